use std::fmt;

macro_rules! newtype {
    ($(#[$m:meta])* $name:ident, $fmt:literal) => {
        $(#[$m])*
        #[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw value.
            #[inline(always)]
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }
    };
}

newtype!(
    /// A virtual byte address.
    VirtAddr,
    "{:#x}"
);
newtype!(
    /// A physical byte address in simulated memory.
    PhysAddr,
    "pa:{:#x}"
);
newtype!(
    /// A virtual page number, in units of the simulation's base page size.
    Vpn,
    "vpn:{:#x}"
);
newtype!(
    /// A physical frame number, in units of the simulation's base page size.
    Pfn,
    "pfn:{:#x}"
);

impl VirtAddr {
    /// The page this address lies in, for pages of `1 << shift` bytes.
    #[inline(always)]
    pub const fn vpn(self, shift: u8) -> Vpn {
        Vpn(self.0 >> shift)
    }
}

impl Pfn {
    /// The physical address of the frame's first byte, for frames of `1 << shift` bytes.
    #[inline(always)]
    pub const fn addr(self, shift: u8) -> PhysAddr {
        PhysAddr(self.0 << shift)
    }
}

/// A page size, as the base-2 logarithm of its bytes (12 = 4 KiB, 21 = 2 MiB, 30 = 1 GiB).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageSize(u8);

impl PageSize {
    /// 4 KiB.
    pub const K4: PageSize = PageSize(12);
    /// 2 MiB.
    pub const M2: PageSize = PageSize(21);
    /// 1 GiB.
    pub const G1: PageSize = PageSize(30);

    /// A page of `1 << shift` bytes; `None` unless `shift` is in 4..=40.
    pub const fn from_shift(shift: u8) -> Option<PageSize> {
        if shift >= 4 && shift <= 40 {
            Some(PageSize(shift))
        } else {
            None
        }
    }

    /// log2 of the size in bytes.
    #[inline(always)]
    pub const fn shift(self) -> u8 {
        self.0
    }

    /// The size in bytes.
    #[inline(always)]
    pub const fn bytes(self) -> u64 {
        1 << self.0
    }
}

impl fmt::Debug for PageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for PageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        match s {
            30.. => write!(f, "{}GiB", 1u64 << (s - 30)),
            20..=29 => write!(f, "{}MiB", 1u64 << (s - 20)),
            10..=19 => write!(f, "{}KiB", 1u64 << (s - 10)),
            _ => write!(f, "{}B", 1u64 << s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_display_and_bounds() {
        assert_eq!(PageSize::K4.to_string(), "4KiB");
        assert_eq!(PageSize::M2.to_string(), "2MiB");
        assert_eq!(PageSize::G1.to_string(), "1GiB");
        assert_eq!(PageSize::from_shift(4).unwrap().to_string(), "16B");
        assert!(PageSize::from_shift(3).is_none());
        assert!(PageSize::from_shift(41).is_none());
        assert_eq!(VirtAddr(0x456789abcdef).vpn(12), Vpn(0x456789abc));
        assert_eq!(Pfn(3).addr(14), PhysAddr(3 << 14));
    }
}
