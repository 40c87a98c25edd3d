use crate::{PageSize, Pfn, Vpn};

/// Access permissions of a mapping.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct Perms(u8);

impl Perms {
    /// No access.
    pub const NONE: Perms = Perms(0);
    /// Readable.
    pub const R: Perms = Perms(1);
    /// Writable.
    pub const W: Perms = Perms(2);
    /// Executable.
    pub const X: Perms = Perms(4);
    /// Read and write.
    pub const RW: Perms = Perms(3);
    /// Read and execute.
    pub const RX: Perms = Perms(5);
    /// Read, write and execute: what demand paging grants when nothing narrower is known.
    pub const RWX: Perms = Perms(7);
    /// User: the page may be used in user mode (x86's U/S, Itanium's privilege level 3). Without
    /// it only the kernel may use the page. Every page the OS model maps for a trace is a user
    /// page.
    pub const U: Perms = Perms(8);

    /// The raw bits (bit 0 read, bit 1 write, bit 2 execute, bit 3 user).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Perms from raw bits; bits above 3 are dropped.
    pub const fn from_bits(bits: u8) -> Perms {
        Perms(bits & 15)
    }

    /// Read, write and execute only (the user bit dropped).
    pub const fn rwx(self) -> Perms {
        Perms(self.0 & 7)
    }

    /// Whether the page may be used in user mode.
    pub const fn user(self) -> bool {
        self.0 & 8 != 0
    }

    /// These permissions without `other`'s.
    pub const fn without(self, other: Perms) -> Perms {
        Perms(self.0 & !other.0)
    }

    /// Whether every permission in `other` is in `self`.
    pub const fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of permissions.
    pub const fn union(self, other: Perms) -> Perms {
        Perms(self.0 | other.0)
    }
}

impl std::fmt::Debug for Perms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = |bit: u8, ch: char| if self.0 & bit != 0 { ch } else { '-' };
        write!(f, "{}{}{}", c(1, 'r'), c(2, 'w'), c(4, 'x'))?;
        // The user bit is shown only when set, so kernel-only permissions read as before.
        if self.0 & 8 != 0 {
            write!(f, "u")?;
        }
        Ok(())
    }
}

/// A mapping as the OS hands it to a design: which frame backs a page, with what permissions and
/// page size. Designs encode it in their own entry format in simulated memory and decode it again.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pte {
    /// First base frame of the page (aligned to the page size).
    pub pfn: Pfn,
    /// Permissions.
    pub perms: Perms,
    /// Page size: the design's base size or a huge size it supports.
    pub size: PageSize,
}

impl Pte {
    /// A placeholder entry (frame 0, no permissions, 4 KiB) for slots that hold none: the fill
    /// value of TLB arrays and of caches that mark emptiness by their own key.
    pub const EMPTY: Pte = Pte {
        pfn: Pfn(0),
        perms: Perms::NONE,
        size: PageSize::K4,
    };

    /// The base frame that backs base page `vpn` within this (possibly huge) page, for base pages of
    /// `1 << base_shift` bytes.
    #[inline(always)]
    pub fn frame_of(&self, vpn: Vpn, base_shift: u8) -> Pfn {
        let span_mask = (1u64 << (self.size.shift() - base_shift)) - 1;
        Pfn(self.pfn.0 | (vpn.0 & span_mask))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_page_frame_of_adds_the_offset_inside_the_page() {
        let pte = Pte {
            pfn: Pfn(0x200),
            perms: Perms::RW,
            size: PageSize::M2,
        };
        assert_eq!(pte.frame_of(Vpn(0x1234), 12), Pfn(0x234));
        let base = Pte {
            size: PageSize::K4,
            ..pte
        };
        assert_eq!(base.frame_of(Vpn(0x1234), 12), Pfn(0x200));
        assert_eq!(format!("{:?}", Perms::RW), "rw-");
        assert!(Perms::RWX.contains(Perms::W));
        assert!(!Perms::R.contains(Perms::W));
        let user = Perms::RW.union(Perms::U);
        assert_eq!(format!("{user:?}"), "rw-u");
        assert_eq!(user.bits(), 11);
        assert!(user.user() && !Perms::RWX.user());
        assert_eq!(user.rwx(), Perms::RW);
        assert_eq!(user.without(Perms::W), Perms::R.union(Perms::U));
        assert_eq!(Perms::from_bits(0xff).bits(), 15);
    }
}
