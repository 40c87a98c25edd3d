/// What an access does.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum AccessKind {
    /// A data load.
    Read = 0,
    /// A data store.
    Write = 1,
    /// An instruction fetch.
    Fetch = 2,
}

impl AccessKind {
    /// Every kind, in discriminant order.
    pub const ALL: [AccessKind; 3] = [AccessKind::Read, AccessKind::Write, AccessKind::Fetch];

    /// A short lower-case name (`read`, `write`, `fetch`).
    pub const fn name(self) -> &'static str {
        match self {
            AccessKind::Read => "read",
            AccessKind::Write => "write",
            AccessKind::Fetch => "fetch",
        }
    }
}

/// One memory access of a trace: `size` bytes from `addr`, in address space `asid`.
///
/// 16 bytes, so a batch of 64 Ki accesses is 1 MiB.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// First byte accessed.
    pub addr: u64,
    /// Bytes accessed; at least 1 for every access a reader produces.
    pub size: u32,
    /// Address-space id (process); 0 for single-process traces.
    pub asid: u16,
    /// Load, store or fetch.
    pub kind: AccessKind,
}

impl Access {
    /// An access of `size` bytes at `addr` in address space 0.
    pub const fn new(kind: AccessKind, addr: u64, size: u32) -> Access {
        Access {
            addr,
            size,
            asid: 0,
            kind,
        }
    }

    /// The last byte accessed, or `None` if the access wraps past the top of the 64-bit space.
    #[inline(always)]
    pub fn last_byte(&self) -> Option<u64> {
        self.addr.checked_add(u64::from(self.size.max(1)) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_16_bytes_and_last_byte_is_checked() {
        assert_eq!(std::mem::size_of::<Access>(), 16);
        assert_eq!(
            Access::new(AccessKind::Read, 0xfff, 2).last_byte(),
            Some(0x1000)
        );
        assert_eq!(Access::new(AccessKind::Read, 7, 0).last_byte(), Some(7));
        assert_eq!(Access::new(AccessKind::Read, u64::MAX, 2).last_byte(), None);
    }
}
