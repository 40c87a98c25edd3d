/// Flag bit of an `mmap` event: the region maps a file (its pages are read from the file on
/// first touch and written back to it when dirty), not anonymous memory.
pub const FILE_BACKED: u8 = 8;

/// Flag bit of an `mmap` event: the region is advised for huge pages (`madvise(MADV_HUGEPAGE)`),
/// the regions `--huge madvise` backs with 2 MiB pages.
pub const HUGE_ADVISED: u8 = 16;

/// What a trace record is: a memory access (read, write, fetch) or an event of the OS model.
///
/// Events are carried in the same 16-byte record as accesses (see [`Access`]) so that one stream
/// holds both in order: `ContextSwitch` (later accesses come from `asid`), `Fork` (`asid` forks
/// the new address space `addr`), `Mmap`, `Munmap` and `Mprotect` (the range `addr ..
/// addr + size * 4096` of `asid`, with permissions `flags`: bit 0 read, 1 write, 2 execute),
/// `Exit` (`asid` ends), `Thread` (later accesses come from thread `addr` of `asid`) and `Cpu`
/// (later accesses run on CPU `addr`, as the trace recorded).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum AccessKind {
    /// A data load.
    Read = 0,
    /// A data store.
    Write = 1,
    /// An instruction fetch.
    Fetch = 2,
    /// A context switch to `asid`.
    ContextSwitch = 16,
    /// `asid` forks address space `addr`.
    Fork = 17,
    /// `size` pages from `addr` are mapped with permissions `flags`.
    Mmap = 18,
    /// `size` pages from `addr` are unmapped.
    Munmap = 19,
    /// `size` pages from `addr` get permissions `flags`.
    Mprotect = 20,
    /// Address space `asid` exits.
    Exit = 21,
    /// Later accesses come from thread `addr` of address space `asid`.
    Thread = 22,
    /// Later accesses ran on CPU `addr` (as the trace recorded it).
    Cpu = 23,
}

impl AccessKind {
    /// The three memory-access kinds, in discriminant order.
    pub const ALL: [AccessKind; 3] = [AccessKind::Read, AccessKind::Write, AccessKind::Fetch];

    /// The event kinds, in discriminant order.
    pub const EVENTS: [AccessKind; 8] = [
        AccessKind::ContextSwitch,
        AccessKind::Fork,
        AccessKind::Mmap,
        AccessKind::Munmap,
        AccessKind::Mprotect,
        AccessKind::Exit,
        AccessKind::Thread,
        AccessKind::Cpu,
    ];

    /// A short lower-case name (`read`, `write`, `fetch`, `switch`, `fork`, `mmap`, `munmap`,
    /// `mprotect`, `exit`, `thread`, `cpu`).
    pub const fn name(self) -> &'static str {
        match self {
            AccessKind::Read => "read",
            AccessKind::Write => "write",
            AccessKind::Fetch => "fetch",
            AccessKind::ContextSwitch => "switch",
            AccessKind::Fork => "fork",
            AccessKind::Mmap => "mmap",
            AccessKind::Munmap => "munmap",
            AccessKind::Mprotect => "mprotect",
            AccessKind::Exit => "exit",
            AccessKind::Thread => "thread",
            AccessKind::Cpu => "cpu",
        }
    }

    /// Whether this is an OS event rather than a memory access.
    #[inline(always)]
    pub const fn is_event(self) -> bool {
        self as u8 >= 16
    }

    /// The kind with discriminant `b`, if any.
    #[inline(always)]
    pub const fn from_u8(b: u8) -> Option<AccessKind> {
        Some(match b {
            0 => AccessKind::Read,
            1 => AccessKind::Write,
            2 => AccessKind::Fetch,
            16 => AccessKind::ContextSwitch,
            17 => AccessKind::Fork,
            18 => AccessKind::Mmap,
            19 => AccessKind::Munmap,
            20 => AccessKind::Mprotect,
            21 => AccessKind::Exit,
            22 => AccessKind::Thread,
            23 => AccessKind::Cpu,
            _ => return None,
        })
    }
}

/// One record of a trace: `size` bytes from `addr`, in address space `asid` (or an event, see
/// [`AccessKind`]).
///
/// 16 bytes, laid out as ptbench's binary trace record (`addr` u64, `size` u32, `asid` u16, `kind`
/// u8, `flags` u8), so a batch of 64 Ki accesses is 1 MiB.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Access {
    /// First byte accessed (events: the start of the range, or the child of a fork).
    pub addr: u64,
    /// Bytes accessed; at least 1 for every access a reader produces (events: pages).
    pub size: u32,
    /// Address-space id (process); 0 for single-process traces.
    pub asid: u16,
    /// Load, store, fetch or event.
    pub kind: AccessKind,
    /// Event permissions (bit 0 read, 1 write, 2 execute) and, for `mmap`, bit 3
    /// ([`FILE_BACKED`]): the region maps a file, and bit 4 ([`HUGE_ADVISED`]): it is advised
    /// for huge pages; 0 for accesses.
    pub flags: u8,
}

impl Access {
    /// An access of `size` bytes at `addr` in address space 0.
    pub const fn new(kind: AccessKind, addr: u64, size: u32) -> Access {
        Access {
            addr,
            size,
            asid: 0,
            kind,
            flags: 0,
        }
    }

    /// The same record in address space `asid`.
    pub const fn in_asid(self, asid: u16) -> Access {
        Access { asid, ..self }
    }

    /// Whether the record is one every ptbench reader and writer accepts; `Err` says what is wrong.
    /// Accesses have at least one byte, stay below 2^64 and carry no flags; a fork's child is an
    /// address space (below 2^16); a range event's pages stay below 2^64 and its permissions use
    /// bits 0-2; a switch or exit carries nothing but its address space. Readers refuse, and
    /// writers never write, a record this rejects.
    #[inline(always)]
    pub fn check(&self) -> Result<(), &'static str> {
        use AccessKind as K;
        match self.kind {
            K::Read | K::Write | K::Fetch => {
                if self.size == 0 {
                    Err("an access of 0 bytes")
                } else if self.addr.checked_add(u64::from(self.size) - 1).is_none() {
                    Err("an access that wraps past the top of the 64-bit address space")
                } else if self.flags != 0 {
                    Err("an access with event flags")
                } else {
                    Ok(())
                }
            }
            K::Fork if self.addr > u64::from(u16::MAX) => {
                Err("a fork whose child address space is above 65535")
            }
            K::Thread | K::Cpu => {
                if self.size != 0 || self.flags != 0 {
                    Err("an event with fields its kind does not have")
                } else {
                    Ok(())
                }
            }
            K::Fork | K::ContextSwitch | K::Exit => {
                if self.size != 0 || self.flags != 0 || (self.kind != K::Fork && self.addr != 0) {
                    Err("an event with fields its kind does not have")
                } else {
                    Ok(())
                }
            }
            K::Mmap | K::Munmap | K::Mprotect => {
                let bytes = u64::from(self.size) << 12;
                if self.size == 0 {
                    Err("a range event of 0 pages")
                } else if self.addr.checked_add(bytes - 1).is_none() {
                    Err("a range event that wraps past the top of the 64-bit address space")
                } else if self.kind == K::Mmap && self.flags > 31 {
                    Err("an mmap with flag bits other than read, write, execute, file-backed and huge-advised")
                } else if self.kind != K::Mmap
                    && (self.flags > 7 || (self.kind == K::Munmap && self.flags != 0))
                {
                    Err("a range event with permission bits other than read, write and execute")
                } else {
                    Ok(())
                }
            }
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
        assert_eq!(std::mem::align_of::<Access>(), 8);
        assert_eq!(
            Access::new(AccessKind::Read, 0xfff, 2).last_byte(),
            Some(0x1000)
        );
        assert_eq!(Access::new(AccessKind::Read, 7, 0).last_byte(), Some(7));
        assert_eq!(Access::new(AccessKind::Read, u64::MAX, 2).last_byte(), None);
    }

    #[test]
    fn check_accepts_exactly_the_well_formed_records() {
        use AccessKind as K;
        let ok = [
            Access::new(K::Read, u64::MAX, 1),
            Access::new(K::Fetch, 0, u32::MAX),
            Access::new(K::Fork, 65535, 0),
            Access::new(K::ContextSwitch, 0, 0).in_asid(3),
            Access {
                flags: 7,
                ..Access::new(K::Mmap, u64::MAX - 4095, 1)
            },
            Access {
                flags: 7 | FILE_BACKED,
                ..Access::new(K::Mmap, 0, 1)
            },
            Access {
                flags: 3 | HUGE_ADVISED,
                ..Access::new(K::Mmap, 0, 1)
            },
        ];
        for a in ok {
            assert_eq!(a.check(), Ok(()), "{a:?}");
        }
        let bad = [
            Access::new(K::Read, 0, 0),
            Access::new(K::Write, u64::MAX, 2),
            Access::new(K::Fork, 65536, 0),
            Access::new(K::Exit, 1, 0),
            Access::new(K::Mmap, u64::MAX - 4095, 2),
            Access::new(K::Munmap, 0, 0),
            Access {
                flags: 8,
                ..Access::new(K::Mprotect, 0, 1)
            },
            Access {
                flags: 32,
                ..Access::new(K::Mmap, 0, 1)
            },
            Access {
                flags: HUGE_ADVISED,
                ..Access::new(K::Mprotect, 0, 1)
            },
        ];
        for a in bad {
            assert!(a.check().is_err(), "{a:?}");
        }
    }

    #[test]
    fn kinds_round_trip_through_their_discriminants() {
        for k in AccessKind::ALL.into_iter().chain(AccessKind::EVENTS) {
            assert_eq!(AccessKind::from_u8(k as u8), Some(k));
            assert_eq!(k.is_event(), AccessKind::EVENTS.contains(&k));
        }
        assert_eq!(AccessKind::from_u8(3), None);
        assert_eq!(AccessKind::from_u8(255), None);
    }
}
