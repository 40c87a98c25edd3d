//! `ptbench explain`: a design's walk for one address, step by step, from the real walk
//! ([`PageTable::explain`]) on a table built by the same demand paging `run` uses.

use super::reader_options;
use super::run::Huge;
use anyhow::{bail, Context, Result};
use ptbench_core::{
    Access, AccessKind, Outside, PageTable, PhysMem, VaField, Vpn, WalkStep, WalkTrace,
};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::{replay_trace, Sim, SimOptions, DEFAULT_MAX_ACCESS_BYTES};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The end of `ptbench explain --help`.
pub const AFTER_HELP: &str = "Examples:\n  \
    ptbench explain --design radix:levels=2,pobits=12 --map 0x12345000 0x12345678\n  \
    ptbench explain --design x86-64 --map 0x7ffc0000,0xffff800000001000 0xffff800000001234\n  \
    ptbench explain --design hashed --trace traces/sort.lackey.gz 0x1ffefff000\n  \
    ptbench explain --design ecpt --map 0x1000 --json 0x1000\n  \
    ptbench explain --design x86-64 --huge 2m --map 0x40000000 0x40012345\n\n\
    The table is built first: --map touches each address once (a read), --trace replays a trace;\n\
    each page is mapped on its first touch by the OS model `ptbench run` uses, so frames and\n\
    physical addresses are the ones a run gets. Then each VA is walked once, and every memory\n\
    reference of that walk is shown: the table, the entry's address, its raw value and meaning.";

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The design SPEC, `NAME[:key=value,...]` (see `ptbench designs`).
    #[arg(long, short = 'd', value_name = "SPEC")]
    design: String,
    /// Touch these addresses first (comma-separated, hex with 0x or decimal), mapping their pages
    /// by demand paging.
    #[arg(
        long,
        value_name = "VA[,VA...]",
        value_delimiter = ',',
        conflicts_with = "trace"
    )]
    map: Vec<String>,
    /// Replay this trace first (any format `run` reads), mapping its pages by demand paging.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Read --trace as this format instead of detecting it.
    #[arg(long)]
    format: Option<String>,
    /// Page size of the faults that build the table, as in `ptbench run`: `off` (base pages),
    /// `2m` or `1g` (every fault maps its aligned region with one huge page), `thp` (2 MiB where
    /// the aligned region lies inside the range of the --map addresses or of the trace).
    #[arg(long, value_enum, default_value_t = Huge::Off)]
    huge: Huge,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// The virtual addresses to explain.
    #[arg(required = true, value_name = "VA")]
    addrs: Vec<String>,
}

/// A virtual address as written on the command line: `0x` hex or decimal, `_` allowed.
pub fn parse_va(s: &str) -> Result<u64> {
    let t = s.trim().replace('_', "");
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    v.with_context(|| format!("`{s}` is not an address (hex with 0x, or decimal, up to 64 bits)"))
}

/// Runs `ptbench explain`.
pub fn exec(args: ExplainArgs) -> Result<()> {
    let spec = DesignSpec::parse(&args.design)?;
    let addrs: Vec<u64> = args
        .addrs
        .iter()
        .map(|a| parse_va(a))
        .collect::<Result<_>>()?;
    let map: Vec<u64> = args
        .map
        .iter()
        .map(|a| parse_va(a).context("--map"))
        .collect::<Result<_>>()?;
    let sim_opts = SimOptions {
        huge: args.huge.policy(),
        ..SimOptions::default()
    };
    let mut sim = Sim::build(&spec, &sim_opts)?;
    let built = if let Some(trace) = &args.trace {
        let opts = reader_options(args.format.as_deref(), false, false)?;
        if args.huge.policy().needs_range() {
            if let Some((lo, hi)) = ptbench_trace::address_range_with(trace, &opts)? {
                sim.set_address_range(lo, hi);
            }
        }
        let run = replay_trace(
            trace,
            &opts,
            DEFAULT_MAX_ACCESS_BYTES,
            std::slice::from_mut(&mut sim),
            &|_, _| {},
        )?;
        if let Some((_, e)) = run.failures.first() {
            bail!("{e}");
        }
        format!(
            "replayed {} accesses of {} by demand paging",
            run.accesses,
            trace.display()
        )
    } else {
        if let (Some(&lo), Some(&hi)) = (map.iter().min(), map.iter().max()) {
            sim.set_address_range(lo, hi);
        }
        let batch: Vec<Access> = map
            .iter()
            .map(|&a| Access::new(AccessKind::Read, a, 1))
            .collect();
        sim.replay(&batch, 0)
            .map_err(|e| anyhow::anyhow!("--map: {e}"))?;
        if map.is_empty() {
            "nothing mapped (an empty table; --map or --trace maps pages)".to_string()
        } else {
            let list: Vec<String> = map.iter().map(|a| format!("{a:#x}")).collect();
            format!(
                "mapped by demand paging (a read of each): {}",
                list.join(", ")
            )
        }
    };
    let label = sim.label().to_string();
    let explained = with_table(&sim, |pt, mem| {
        addrs
            .iter()
            .map(|&va| explain_one(pt, mem, va))
            .collect::<Result<Vec<_>>>()
    })?;
    let (va_bits, shift, canonical) = with_table(&sim, |pt, _| {
        (pt.va_bits(), pt.page_shift(), pt.address_space().canonical)
    });
    if args.json {
        let doc = json!({
            "design": label,
            "va_bits": va_bits,
            "page_bytes": 1u64 << shift,
            "canonical": canonical,
            "built": built,
            "addresses": explained.iter().map(Explained::to_json).collect::<Vec<Value>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    outln!(
        "design {label}: {va_bits}-bit virtual addresses{}, {} pages",
        if canonical {
            " (canonical: bits 63 and up copy the top bit)"
        } else {
            ""
        },
        ptbench_core::PageSize::from_shift(shift)
            .map_or_else(|| format!("2^{shift}-byte"), |s| s.to_string())
    );
    outln!("{built}");
    for e in &explained {
        outln!();
        out!("{}", e.text());
    }
    Ok(())
}

/// Calls `f` with the simulator's design and memory.
fn with_table<R>(sim: &Sim, f: impl FnOnce(&dyn PageTable, &PhysMem) -> R) -> R {
    match sim {
        Sim::Radix(s) => f(s.table(), s.mem()),
        Sim::Flat(s) => f(s.table(), s.mem()),
        Sim::Hashed(s) => f(s.table(), s.mem()),
        Sim::Inverted(s) => f(s.table(), s.mem()),
        Sim::Ecpt(s) => f(s.table(), s.mem()),
        Sim::Nested(s) => f(s.table(), s.mem()),
        Sim::Reference(s) => f(s.table(), s.mem()),
    }
}

/// One address explained.
struct Explained {
    va: u64,
    /// The address the walk indexes with (its low va_bits bits).
    walk_va: u64,
    shift: u8,
    /// The shift of the page the walk found (a huge page's, or `shift`).
    page_shift: u8,
    /// Every field of the address, most significant first, the offset last.
    fields: Vec<VaField>,
    trace: WalkTrace,
}

fn explain_one(pt: &dyn PageTable, mem: &PhysMem, va: u64) -> Result<Explained> {
    let space = pt.address_space();
    let walk_va = match space.resolve(va) {
        Ok(a) => a,
        Err(Outside::NonCanonical) => bail!(
            "{va:#x} is not canonical in the {}-bit address space of this design: bits 63 to {} \
             must all equal bit {} (addresses go up to {:#x}, and from {:#x} up)",
            space.va_bits,
            space.va_bits - 1,
            space.va_bits - 1,
            space.low_last(),
            space.high_start().unwrap_or(0)
        ),
        Err(Outside::TooWide) => bail!(
            "{va:#x} is wider than the {}-bit address space of this design (addresses go up to \
             {:#x})",
            space.va_bits,
            space.low_last()
        ),
    };
    let shift = pt.page_shift();
    let Some(trace) = pt.explain(mem, Vpn(walk_va >> shift)) else {
        bail!("this design does not explain its walks");
    };
    let mut fields = Vec::new();
    if space.va_bits < 64 && (space.canonical || va >> space.va_bits != 0) {
        fields.push(VaField::new("sign extension", 63, space.va_bits));
    }
    // A huge leaf ends the walk early: the fields below its size are part of the offset.
    let page_shift = trace.pte.map_or(shift, |p| p.size.shift().max(shift));
    fields.extend(trace.fields.iter().filter_map(|f| {
        if f.hi < page_shift {
            None
        } else if f.lo < page_shift {
            Some(VaField::new(f.name.clone(), f.hi, page_shift))
        } else {
            Some(f.clone())
        }
    }));
    fields.push(VaField::new("offset", page_shift - 1, 0));
    Ok(Explained {
        va,
        walk_va,
        shift,
        page_shift,
        fields,
        trace,
    })
}

fn binary(v: u64, width: u32) -> String {
    format!("{v:0w$b}", w = width as usize)
}

fn width(f: &VaField) -> u32 {
    u32::from(f.hi - f.lo) + 1
}

fn words(step: &WalkStep) -> String {
    let w = usize::from(step.word_bytes) * 2;
    let hex: Vec<String> = step.words.iter().map(|x| format!("0x{x:0w$x}")).collect();
    if hex.len() == 1 {
        hex[0].clone()
    } else {
        format!("[{}]", hex.join(" "))
    }
}

impl Explained {
    fn pa(&self) -> Option<u64> {
        let pte = self.trace.pte?;
        let frame = pte.frame_of(Vpn(self.walk_va >> self.shift), self.shift);
        Some((frame.0 << self.shift) | (self.va & ((1 << self.shift) - 1)))
    }

    fn text(&self) -> String {
        let mut o = String::new();
        o += &format!("virtual address {:#x}", self.va);
        if self.walk_va != self.va {
            o += &format!(" (the walk indexes with its low bits: {:#x})", self.walk_va);
        }
        o += "\n";
        let name_w = self
            .fields
            .iter()
            .map(|f| f.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let bin_w = self.fields.iter().map(width).max().unwrap_or(6).max(6) as usize;
        o += &format!(
            "  {:<name_w$}  {:<7}  {:<bin_w$}  hex\n",
            "field", "bits", "binary"
        );
        for f in &self.fields {
            o += &format!(
                "  {:<name_w$}  {:<7}  {:<bin_w$}  {:#x}\n",
                f.name,
                format!("{}..{}", f.hi, f.lo),
                binary(f.value(self.va), width(f)),
                f.value(self.va)
            );
        }
        let split: Vec<String> = self
            .fields
            .iter()
            .map(|f| binary(f.value(self.va), width(f)))
            .collect();
        o += &format!("  = {}\n", split.join(" | "));
        for n in &self.trace.notes {
            o += &format!("  note: {n}\n");
        }
        let label_w = self.trace.steps.len().to_string().len() + 5;
        for (i, s) in self.trace.steps.iter().enumerate() {
            let label = format!("step {}", i + 1);
            let pad = " ".repeat(label_w);
            o += &format!(
                "  {label:<label_w$}  {} at {:#x}, index {:#x}\n",
                s.place, s.table.0, s.index
            );
            o += &format!("  {pad}  read {:#x} = {}\n", s.addr.0, words(s));
            o += &format!("  {pad}  {}\n", s.meaning);
        }
        if !self.trace.grid.is_empty() {
            o += "  two-dimensional walk: the steps of each host walk, then the guest read it allowed\n";
            for line in &self.trace.grid {
                o += &format!("    {}\n", line.trim_end());
            }
        }
        let c = self.trace.cost;
        let plural = |n: u32, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let cost = if c.probes > 0 {
            format!(
                "{}, {}",
                plural(c.refs, "memory reference"),
                plural(c.probes, "probe")
            )
        } else {
            plural(c.refs, "memory reference")
        };
        let cost = if c.host_walks > 0 {
            format!(
                "{cost} ({} by the guest, {} by {})",
                c.refs - c.host_refs,
                c.host_refs,
                plural(c.host_walks, "host walk")
            )
        } else {
            cost
        };
        match (self.trace.pte, self.pa()) {
            (Some(pte), Some(pa)) => {
                o += &format!(
                    "  result: {}physical address {pa:#x} = {} {:#x} ({} page, perms {:?}) + offset {:#x}; {cost}\n",
                    if self.trace.grid.is_empty() { "" } else { "guest-" },
                    if self.page_shift == self.shift {
                        "frame"
                    } else {
                        "the page's first frame"
                    },
                    pa >> self.page_shift << self.page_shift >> self.shift,
                    pte.size,
                    pte.perms,
                    self.va & ((1 << self.page_shift) - 1)
                );
            }
            _ => o += &format!("  result: no translation: {}; {cost}\n", self.trace.outcome),
        }
        o
    }

    fn to_json(&self) -> Value {
        let t = &self.trace;
        json!({
            "va": format!("{:#x}", self.va),
            "walk_va": format!("{:#x}", self.walk_va),
            "vpn": format!("{:#x}", self.walk_va >> self.shift),
            "fields": self.fields.iter().map(|f| json!({
                "name": f.name,
                "hi": f.hi,
                "lo": f.lo,
                "value": format!("{:#x}", f.value(self.va)),
                "binary": binary(f.value(self.va), width(f)),
            })).collect::<Vec<_>>(),
            "notes": t.notes,
            "steps": t.steps.iter().map(|s| json!({
                "place": s.place,
                "table": format!("{:#x}", s.table.0),
                "index": format!("{:#x}", s.index),
                "addr": format!("{:#x}", s.addr.0),
                "words": s.words.iter().map(|w| format!("{w:#x}")).collect::<Vec<_>>(),
                "word_bytes": s.word_bytes,
                "valid": s.valid,
                "perms": s.perms.map(|p| format!("{p:?}")),
                "meaning": s.meaning,
            })).collect::<Vec<_>>(),
            "refs": t.cost.refs,
            "probes": t.cost.probes,
            "host_refs": t.cost.host_refs,
            "host_walks": t.cost.host_walks,
            "grid": t.grid,
            "found": t.pte.is_some(),
            "pa": self.pa().map(|pa| format!("{pa:#x}")),
            "page_size": t.pte.map(|p| p.size.to_string()),
            "perms": t.pte.map(|p| format!("{:?}", p.perms)),
            "outcome": t.outcome,
        })
    }
}
