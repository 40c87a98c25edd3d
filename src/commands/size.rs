//! `ptbench size`: the page-table size exercise, each answer with the formula it used.

use anyhow::{bail, Result};
use serde_json::json;

/// The end of `ptbench size --help`.
pub const AFTER_HELP: &str = "Examples:\n  \
    ptbench size --va-bits 32 --pobits 12 --pte-bytes 4\n  \
    ptbench size --va-bits 48 --pobits 12 --pages 1000\n  \
    ptbench size --va-bits 39 --pobits 12 --levels 3 --json\n\n\
    Every table is one page. Best case: the touched pages are packed together (aligned), so each\n\
    level needs as few tables as can cover them; worst case: they are spread so that no two share\n\
    a table below the root where that is possible.";

#[derive(clap::Args)]
pub struct SizeArgs {
    /// Bits of a virtual address.
    #[arg(long, value_name = "N")]
    va_bits: u8,
    /// log2 of the page size (12 = 4 KiB).
    #[arg(long, value_name = "P")]
    pobits: u8,
    /// Bytes of one page-table entry (a power of two).
    #[arg(long, value_name = "B", default_value_t = 8)]
    pte_bytes: u64,
    /// Levels of the radix table (default: as many as the address width needs).
    #[arg(long, value_name = "L")]
    levels: Option<u8>,
    /// Pages touched, for the radix table's size.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pages: u64,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// The answers, computed from the arguments.
#[derive(Debug)]
struct Answers {
    page_bits: u32,
    flat_bytes: u128,
    entries: u64,
    bits: u32,
    needed: u32,
    levels: u32,
    /// Index bits of each level, root first.
    level_bits: Vec<u32>,
    /// Tables per level, root first, best and worst case.
    best: Vec<u128>,
    worst: Vec<u128>,
}

fn compute(a: &SizeArgs) -> Result<Answers> {
    let (va, pob) = (u32::from(a.va_bits), u32::from(a.pobits));
    if !(1..=64).contains(&va) {
        bail!("--va-bits {va} is outside 1..=64");
    }
    if !(1..=40).contains(&pob) || pob >= va {
        bail!("--pobits {pob} must be from 1 to 40 and below --va-bits {va}");
    }
    if !a.pte_bytes.is_power_of_two() || a.pte_bytes >= 1 << pob {
        bail!(
            "--pte-bytes {} must be a power of two smaller than the {}-byte page",
            a.pte_bytes,
            1u64 << pob
        );
    }
    let page_bits = va - pob;
    let entries = (1u64 << pob) / a.pte_bytes;
    let bits = entries.trailing_zeros();
    let needed = page_bits.div_ceil(bits);
    let levels = match a.levels {
        None => needed,
        Some(l) if u32::from(l) >= needed && l <= 64 => u32::from(l),
        Some(l) => {
            // Smaller entries (down to 4 bytes) put more in a table: maybe enough for `l` levels.
            let l32 = u32::from(l);
            let smaller = (2..a.pte_bytes.trailing_zeros())
                .rev()
                .map(|s| (1u64 << s, pob - s))
                .find(|(_, b)| l32 * b >= page_bits);
            let fix = match smaller {
                Some((b, bits)) => format!(
                    ", or {b}-byte entries (`--pte-bytes {b}`: {} entries per table, {bits} \
                     index bits per level, {} in {l} levels)",
                    1u64 << bits,
                    l32 * bits
                ),
                None => String::new(),
            };
            bail!(
                "--levels {l}: {l} levels of {bits} index bits translate {} page-number bits, \
                 but {va}-bit addresses with {pob}-bit offsets have {page_bits}; they need \
                 {needed} levels{fix}",
                l32 * bits
            )
        }
    };
    // Index bits from the leaf up: full levels, the root gets what is left (maybe 0).
    let mut level_bits = vec![0; levels as usize];
    let mut left = page_bits;
    for b in level_bits.iter_mut().rev() {
        *b = left.min(bits);
        left -= *b;
    }
    if a.pages == 0 || (page_bits < 64 && a.pages > 1 << page_bits) {
        bail!(
            "--pages {} must be from 1 to the 2^{page_bits} pages of the address space",
            a.pages
        );
    }
    let n = u128::from(a.pages);
    let mut best = Vec::new();
    let mut worst = Vec::new();
    for k in 0..levels as usize {
        let above: u32 = level_bits[..k].iter().sum();
        let covered: u32 = level_bits[k..].iter().sum();
        best.push(n.div_ceil(1u128 << covered));
        worst.push(n.min(1u128 << above));
    }
    Ok(Answers {
        page_bits,
        flat_bytes: (1u128 << page_bits) * u128::from(a.pte_bytes),
        entries,
        bits,
        needed,
        levels,
        level_bits,
        best,
        worst,
    })
}

/// `4 MiB`, `512 GiB`, `12 KiB`; one decimal where the size is not a whole number of its unit.
fn human(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut u = 0;
    while u + 1 < UNITS.len() && bytes >= 1u128 << (10 * (u + 1)) {
        u += 1;
    }
    let unit = 1u128 << (10 * u);
    if bytes.is_multiple_of(unit) {
        format!("{} {}", bytes / unit, UNITS[u])
    } else {
        format!("{:.1} {}", bytes as f64 / unit as f64, UNITS[u])
    }
}

fn thousands(n: u128) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runs `ptbench size`.
pub fn exec(args: SizeArgs) -> Result<()> {
    let r = compute(&args)?;
    let (va, pob, pte) = (args.va_bits, args.pobits, args.pte_bytes);
    let page = 1u128 << pob;
    let best_total: u128 = r.best.iter().sum();
    let worst_total: u128 = r.worst.iter().sum();
    let f_flat = format!(
        "2^(va_bits - pobits) * pte_bytes = 2^{} * {pte}",
        r.page_bits
    );
    let f_entries = format!("2^pobits / pte_bytes = {page} / {pte}");
    let f_bits = format!(
        "log2(entries per table) = pobits - log2(pte_bytes) = {pob} - {}",
        pte.trailing_zeros()
    );
    let f_levels = format!(
        "ceil((va_bits - pobits) / bits per level) = ceil({} / {})",
        r.page_bits, r.bits
    );
    let f_best = "level k: ceil(pages / 2^(index bits of levels k and below)) tables";
    let f_worst = "level k: min(pages, 2^(index bits of the levels above k)) tables";
    if args.json {
        let doc = json!({
            "va_bits": va,
            "pobits": pob,
            "pte_bytes": pte,
            "page_bytes": page.to_string(),
            "page_number_bits": r.page_bits,
            "flat_table_bytes": r.flat_bytes.to_string(),
            "entries_per_table": r.entries,
            "bits_per_level": r.bits,
            "levels_needed": r.needed,
            "levels": r.levels,
            "index_bits_per_level": r.level_bits,
            "pages": args.pages,
            "best_tables_per_level": r.best.iter().map(u128::to_string).collect::<Vec<_>>(),
            "worst_tables_per_level": r.worst.iter().map(u128::to_string).collect::<Vec<_>>(),
            "best_tables": best_total.to_string(),
            "best_bytes": (best_total * page).to_string(),
            "worst_tables": worst_total.to_string(),
            "worst_bytes": (worst_total * page).to_string(),
            "formulas": {
                "flat_table_bytes": f_flat,
                "entries_per_table": f_entries,
                "bits_per_level": f_bits,
                "levels_needed": f_levels,
                "best": f_best,
                "worst": f_worst,
            },
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    outln!(
        "{va}-bit virtual addresses, {} pages (pobits {pob}), {pte}-byte entries",
        human(page)
    );
    outln!(
        "  virtual address    {va} bits = {}-bit page number + {pob}-bit offset",
        r.page_bits
    );
    let rows = [
        (
            "flat table",
            format!(
                "{} ({} bytes)",
                human(r.flat_bytes),
                thousands(r.flat_bytes)
            ),
            f_flat,
        ),
        ("entries per table", thousands(r.entries.into()), f_entries),
        ("bits per level", r.bits.to_string(), f_bits),
        ("levels needed", r.needed.to_string(), f_levels),
    ];
    let w = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    for (name, value, formula) in &rows {
        outln!("  {name:<17}  {value:<w$}  {formula}");
    }
    let bits: Vec<String> = r.level_bits.iter().map(u32::to_string).collect();
    outln!(
        "\nradix table of {} levels (index bits {}, root first; every table is one {} page) for {} touched page{}:",
        r.levels,
        bits.join(" + "),
        human(page),
        thousands(args.pages.into()),
        if args.pages == 1 { "" } else { "s" }
    );
    outln!(
        "  {:<9}  {:>10}  {:>18}  {:>18}",
        "level",
        "index bits",
        "best-case tables",
        "worst-case tables"
    );
    for k in 0..r.levels as usize {
        let name = if k == 0 {
            "0 (root)".to_string()
        } else {
            k.to_string()
        };
        outln!(
            "  {name:<9}  {:>10}  {:>18}  {:>18}",
            r.level_bits[k],
            thousands(r.best[k]),
            thousands(r.worst[k])
        );
    }
    outln!(
        "  {:<9}  {:>10}  {:>18}  {:>18}",
        "total",
        "",
        format!("{} ({})", thousands(best_total), human(best_total * page)),
        format!("{} ({})", thousands(worst_total), human(worst_total * page))
    );
    outln!("  best case:  pages packed together; {f_best}");
    outln!("  worst case: pages spread apart; {f_worst}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(va: u8, pob: u8, pte: u64, pages: u64) -> SizeArgs {
        SizeArgs {
            va_bits: va,
            pobits: pob,
            pte_bytes: pte,
            levels: None,
            pages,
            json: false,
        }
    }

    #[test]
    fn the_classic_cases_by_hand() {
        let r = compute(&args(32, 12, 4, 1)).unwrap();
        assert_eq!(
            (r.flat_bytes, r.entries, r.bits, r.needed),
            (4 << 20, 1024, 10, 2)
        );
        let r = compute(&args(48, 12, 8, 1)).unwrap();
        assert_eq!(
            (r.flat_bytes, r.entries, r.bits, r.needed),
            (512 << 30, 512, 9, 4)
        );
        // 1000 pages: best 1 + 1 + 1 + ceil(1000/512) = 5; worst 1 + 512 + 1000 + 1000.
        let r = compute(&args(48, 12, 8, 1000)).unwrap();
        assert_eq!(r.best, vec![1, 1, 1, 2]);
        assert_eq!(r.worst, vec![1, 512, 1000, 1000]);
        // 39 bits of 9-bit levels: three levels; 32 bits with 8-byte entries: the root has 2 bits.
        assert_eq!(compute(&args(39, 12, 8, 1)).unwrap().needed, 3);
        let r = compute(&args(32, 12, 8, 5)).unwrap();
        assert_eq!(r.level_bits, vec![2, 9, 9]);
        assert_eq!(r.worst, vec![1, 4, 5]);
        assert_eq!(human(12 << 10), "12 KiB");
        assert_eq!(human(1536), "1.5 KiB");
    }

    #[test]
    fn impossible_questions_are_errors() {
        assert!(compute(&args(32, 12, 3, 1)).is_err());
        assert!(compute(&args(12, 12, 8, 1)).is_err());
        assert!(compute(&args(32, 12, 4, 1 << 21)).is_err());
        let mut a = args(48, 12, 8, 1);
        a.levels = Some(3);
        let e = compute(&a).unwrap_err().to_string();
        assert_eq!(
            e,
            "--levels 3: 3 levels of 9 index bits translate 27 page-number bits, but 48-bit \
             addresses with 12-bit offsets have 36; they need 4 levels"
        );
    }

    #[test]
    fn too_few_levels_name_the_entry_size_that_fits() {
        let mut a = args(32, 12, 8, 1);
        a.levels = Some(2);
        assert_eq!(
            compute(&a).unwrap_err().to_string(),
            "--levels 2: 2 levels of 9 index bits translate 18 page-number bits, but 32-bit \
             addresses with 12-bit offsets have 20; they need 3 levels, or 4-byte entries \
             (`--pte-bytes 4`: 1024 entries per table, 10 index bits per level, 20 in 2 levels)"
        );
        // With 4-byte entries it works, as said.
        a.pte_bytes = 4;
        let r = compute(&a).unwrap();
        assert_eq!((r.levels, r.level_bits.clone()), (2, vec![10, 10]));
        // 16-byte entries, 2 levels of 38 bits: 8-byte entries are not enough, 4-byte ones are.
        let mut b = args(38, 12, 16, 1);
        b.levels = Some(2);
        let e = compute(&b).unwrap_err().to_string();
        assert!(e.ends_with("they need 4 levels"), "{e}");
        b.va_bits = 32;
        let e = compute(&b).unwrap_err().to_string();
        assert!(e.ends_with("or 4-byte entries (`--pte-bytes 4`: 1024 entries per table, 10 index bits per level, 20 in 2 levels)"), "{e}");
    }
}
