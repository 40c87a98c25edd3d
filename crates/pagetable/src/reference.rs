//! The reference design: a `BTreeMap` from a page's first base page to its mapping.
//!
//! It is the oracle the tests compare every other design with, not a design to study: it keeps no
//! entries in simulated memory, so its walks cost nothing and its tables take no bytes.
//! With a cache model its walks read nothing and cost no cycles.

use ptbench_core::{
    check_in_space, check_mapping, Footprint, MapError, PageSize, PageTable, PhysMem, Pte, VaField,
    Vpn, WalkCost, WalkTrace,
};
use std::collections::BTreeMap;

/// A `BTreeMap<Vpn, Pte>` page table.
#[derive(Clone, Debug)]
pub struct Reference {
    page_shift: u8,
    va_bits: u8,
    sizes: Vec<PageSize>,
    canonical: bool,
    map: BTreeMap<Vpn, Pte>,
}

impl Reference {
    /// An empty table for base pages of `1 << page_shift` bytes in a `va_bits` address space that
    /// accepts pages of the given sizes (the base size is always accepted).
    pub fn new(page_shift: u8, va_bits: u8, huge: &[PageSize]) -> Result<Reference, MapError> {
        let base = PageSize::from_shift(page_shift).ok_or_else(|| {
            MapError::Memory(ptbench_core::MemError::Geometry(format!(
                "page shift {page_shift} is outside 4..=40"
            )))
        })?;
        let mut sizes = vec![base];
        sizes.extend(huge.iter().copied().filter(|s| *s > base));
        Ok(Reference {
            page_shift,
            va_bits: va_bits.clamp(page_shift, 64),
            sizes,
            canonical: false,
            map: BTreeMap::new(),
        })
    }

    /// The same table with canonical (sign-extended) addresses, as x86-64's (see
    /// [`PageTable::canonical`]).
    pub fn with_canonical(mut self, canonical: bool) -> Reference {
        self.canonical = canonical;
        self
    }

    /// An empty table accepting base pages and 2 MiB and 1 GiB pages (when larger than the base).
    pub fn with_default_sizes(page_shift: u8, va_bits: u8) -> Result<Reference, MapError> {
        Reference::new(page_shift, va_bits, &[PageSize::M2, PageSize::G1])
    }

    fn find(&self, vpn: Vpn) -> Option<(Vpn, Pte)> {
        let (&start, &pte) = self.map.range(..=vpn).next_back()?;
        let span = 1u64 << (pte.size.shift() - self.page_shift);
        (vpn.0 - start.0 < span).then_some((start, pte))
    }
}

impl PageTable for Reference {
    fn page_shift(&self) -> u8 {
        self.page_shift
    }

    fn va_bits(&self) -> u8 {
        self.va_bits
    }

    fn page_sizes(&self) -> &[PageSize] {
        &self.sizes
    }

    fn map(&mut self, _mem: &mut PhysMem, vpn: Vpn, pte: Pte) -> Result<(), MapError> {
        check_mapping(self, vpn, &pte)?;
        let span = (1u64 << (pte.size.shift() - self.page_shift)) - 1;
        match self.find(vpn) {
            Some((start, old)) if start != vpn || old.size != pte.size => {
                return Err(MapError::Overlap { vpn })
            }
            _ => {}
        }
        if span > 0
            && self
                .map
                .range(Vpn(vpn.0 + 1)..=Vpn(vpn.0.saturating_add(span)))
                .next()
                .is_some()
        {
            return Err(MapError::Overlap { vpn });
        }
        self.map.insert(vpn, pte);
        Ok(())
    }

    fn unmap(&mut self, _mem: &mut PhysMem, vpn: Vpn) -> Result<Option<Pte>, MapError> {
        check_in_space(self, vpn)?;
        Ok(self
            .find(vpn)
            .and_then(|(start, _)| self.map.remove(&start)))
    }

    fn walk(&self, _mem: &PhysMem, vpn: Vpn, _cost: &mut WalkCost) -> Option<Pte> {
        if !self.covers(vpn) {
            return None;
        }
        self.find(vpn).map(|(_, pte)| pte)
    }

    /// The lookup is a host `BTreeMap` search: no steps, no references.
    fn explain(&self, mem: &PhysMem, vpn: Vpn) -> Option<WalkTrace> {
        let mut cost = WalkCost::default();
        let pte = self.walk(mem, vpn, &mut cost);
        Some(WalkTrace {
            fields: vec![VaField::page_number(self.va_bits, self.page_shift)],
            steps: Vec::new(),
            notes: vec![
                "the reference design is a BTreeMap on the host: it keeps no entries in simulated \
                 memory, so its lookups read nothing"
                    .to_string(),
            ],
            pte,
            cost,
            outcome: match pte {
                Some(p) => format!("found in the BTreeMap: a {} page", p.size),
                None if !self.covers(vpn) => "outside the address space".to_string(),
                None => "not in the BTreeMap (page fault)".to_string(),
            },
            grid: Vec::new(),
        })
    }

    fn canonical(&self) -> bool {
        self.canonical
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            entries: self.map.len() as u64,
            ..Footprint::default()
        }
    }
}
