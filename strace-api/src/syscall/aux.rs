//! Aux records: copies of argument memory made by the kernel (see
//! strace_common::capture), and pairing them with their syscall.
use strace_common::capture::{AUX_HEADER_BYTES, AUX_ITEM_BYTES, AuxHeader, AuxItem, item_span};

/// One copied piece of argument memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    pub arg: u8,
    pub kind: u8,
    pub flags: u8,
    pub index: u8,
    pub data: &'a [u8],
}

impl Item<'_> {
    pub fn truncated(&self) -> bool {
        self.flags & AuxItem::TRUNCATED != 0
    }
    pub fn fault(&self) -> bool {
        self.flags & AuxItem::FAULT != 0
    }
}

/// The head of an aux record and its items' bytes; `None` if malformed.
pub fn parse(bytes: &[u8]) -> Option<(AuxHeader, &[u8])> {
    if bytes.len() < AUX_HEADER_BYTES {
        return None;
    }
    // SAFETY: length checked; plain data valid for any bit pattern.
    let head: AuxHeader = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
    let end = (head.len as usize).min(bytes.len());
    (end >= AUX_HEADER_BYTES).then(|| (head, &bytes[AUX_HEADER_BYTES..end]))
}

/// The items in an items region (as kept with an event).
pub fn items(mut region: &[u8]) -> impl Iterator<Item = Item<'_>> {
    std::iter::from_fn(move || {
        if region.len() < AUX_ITEM_BYTES {
            return None;
        }
        // SAFETY: length checked; plain data valid for any bit pattern.
        let head: AuxItem = unsafe { std::ptr::read_unaligned(region.as_ptr().cast()) };
        let len = head.len as usize;
        let data = region.get(AUX_ITEM_BYTES..AUX_ITEM_BYTES + len)?;
        let item = Item { arg: head.arg, kind: head.kind, flags: head.flags, index: head.index, data };
        region = region.get(item_span(len)..).unwrap_or(&[]);
        Some(item)
    })
}

/// The item of kind `kind` for argument `arg`, if copied.
pub fn find(region: &[u8], arg: usize, kind: u8) -> Option<Item<'_>> {
    items(region).find(|i| i.arg as usize == arg && i.kind == kind)
}

/// An items region of (arg, kind, flags, index, data), as the kernel writes
/// them (for copies made in userspace, and tests).
pub fn build(items: &[(u8, u8, u8, u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(arg, kind, flags, index, data) in items {
        let head = AuxItem { arg, kind, flags, index, len: data.len() as u16, _pad: 0 };
        // SAFETY: plain data.
        let bytes: [u8; AUX_ITEM_BYTES] = unsafe { std::mem::transmute(head) };
        out.extend(bytes);
        out.extend(data);
        out.resize(out.len() + (item_span(data.len()) - AUX_ITEM_BYTES - data.len()), 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let region = build(&[(1, AuxItem::STRING, 0, 0, b"/etc/hosts"), (2, AuxItem::ARGV, AuxItem::MORE, 6, b"")]);
        let all: Vec<_> = items(&region).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].data, b"/etc/hosts");
        assert_eq!((all[1].arg, all[1].flags, all[1].index), (2, AuxItem::MORE, 6));
        assert_eq!(find(&region, 1, AuxItem::STRING).unwrap().data, b"/etc/hosts");
        assert!(find(&region, 0, AuxItem::STRING).is_none());
        assert_eq!(items(&region[..5]).count(), 0, "a cut record yields nothing");
    }

    #[test]
    fn parse_checks_lengths() {
        assert!(parse(&[0; 10]).is_none());
        let head = AuxHeader { kind: 3, count: 0, len: AUX_HEADER_BYTES as u32, ..Default::default() };
        // SAFETY: plain data.
        let bytes: [u8; AUX_HEADER_BYTES] = unsafe { std::mem::transmute(head) };
        let (h, region) = parse(&bytes).unwrap();
        assert_eq!((h.kind, region.len()), (3, 0));
    }
}
