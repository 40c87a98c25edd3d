//! The learners' commands: `explain` checked against walks worked out by hand, `size` against the
//! classic textbook answers, and the canonical-address and width reports of `run` and `inspect`.

use std::process::Output;

mod common;
use common::ptbench;

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `radix:levels=2,pobits=12`: 8-byte entries, so 9-bit indices and 30-bit addresses.
/// 0x12345678 = 010010001 | 101000101 | 011001111000: L0 index 0x91, L1 index 0x145, offset
/// 0x678. Table frames start at 2^51 (the upper half of 52-bit physical memory): the root at
/// 0x8000000000000, the leaf table the first mapping allocates at 0x8000000001000. The root entry
/// 0x91 (at root + 0x91 * 8 = 0x...488) points to the leaf table: 0x8000000001000 | V. Demand
/// paging gives the page the first data frame, 0, readable, writable, executable: the leaf entry
/// 0x145 (at 0x...1000 + 0x145 * 8 = 0x...1a28) is 0 << 12 | X | W | V = 0x7. So the physical
/// address is frame 0's byte 0x678.
#[test]
fn explain_a_two_level_walk_worked_out_by_hand() {
    let out = ptbench(&[
        "explain",
        "--design",
        "radix:levels=2,pobits=12",
        "--map",
        "0x12345000",
        "0x12345678",
    ]);
    let text = stdout(&out);
    let want = "\
design radix:levels=2,pobits=12: 30-bit virtual addresses, 4KiB pages
mapped by demand paging (a read of each): 0x12345000

virtual address 0x12345678
  field     bits     binary        hex
  L0 index  29..21   010010001     0x91
  L1 index  20..12   101000101     0x145
  offset    11..0    011001111000  0x678
  = 010010001 | 101000101 | 011001111000
  step 1  level 0 table at 0x8000000000000, index 0x91
          read 0x8000000000488 = 0x0008000000001001
          V=1: next table at 0x8000000001000
  step 2  level 1 table at 0x8000000001000, index 0x145
          read 0x8000000001a28 = 0x0000000000000037
          V=1 R=1 W=1 X=1 U=1: leaf of a 4KiB page, frame 0x0, perms rwxu
  result: physical address 0x678 = frame 0x0 (4KiB page, perms rwxu) + offset 0x678; 2 memory references
";
    assert_eq!(text, want);
}

#[test]
fn explain_json_and_a_walk_that_stops() {
    let out = ptbench(&[
        "explain",
        "-d",
        "radix:levels=2,pobits=12",
        "--map",
        "0x12345000",
        "--json",
        "0x12345678",
        "0x12346000",
        "0x2000",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["design"], "radix:levels=2,pobits=12");
    assert_eq!(doc["va_bits"], 30);
    let a = &doc["addresses"];
    assert_eq!(a[0]["pa"], "0x678");
    assert_eq!(a[0]["fields"][0]["value"], "0x91");
    assert_eq!(a[0]["fields"][1]["binary"], "101000101");
    assert_eq!(a[0]["steps"][0]["words"][0], "0x8000000001001");
    assert_eq!(a[0]["steps"][1]["addr"], "0x8000000001a28");
    assert_eq!(a[0]["steps"][1]["perms"], "rwxu");
    // The neighbour page: its leaf entry (0x146) is invalid; a page elsewhere stops at the root.
    assert_eq!(a[1]["found"], false);
    assert_eq!(a[1]["refs"], 2);
    assert_eq!(a[1]["steps"][1]["valid"], false);
    assert_eq!(a[2]["refs"], 1);
    assert_eq!(a[2]["outcome"], "page fault: the level 0 entry is invalid");
}

#[test]
fn explain_works_for_every_design_and_counts_match_run() {
    for design in [
        "two-level",
        "x86-64",
        "x86-64-5l",
        "flat:va_bits=40",
        "hashed",
        "hashed:collision=chain",
        "inverted",
        "ecpt",
        "reference",
        "nested",
        "nested:guest=ecpt,host=[radix:levels=3,pobits=12]",
        "nested:guest=hashed,host=flat",
    ] {
        let out = ptbench(&[
            "explain",
            "-d",
            design,
            "--map",
            "0x1000,0x5000",
            "--json",
            "0x5008",
        ]);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let a = &doc["addresses"][0];
        // The second page touched gets the second data frame, in every design.
        assert_eq!(a["pa"], "0x1008", "{design}");
        assert_eq!(
            a["steps"].as_array().unwrap().len() as u64,
            a["refs"].as_u64().unwrap(),
            "{design}"
        );
    }
}

#[test]
fn explain_upper_half_and_bad_addresses() {
    let text = stdout(&ptbench(&[
        "explain",
        "-d",
        "x86-64",
        "--map",
        "0xffff800000001000",
        "0xffff800000001234",
    ]));
    assert!(
        text.contains("(the walk indexes with its low bits: 0x800000001234)"),
        "{text}"
    );
    assert!(
        text.contains("  sign extension  63..48   1111111111111111  0xffff\n"),
        "{text}"
    );
    assert!(
        text.contains("  L0 index        47..39   100000000         0x100\n"),
        "{text}"
    );
    assert!(
        text.contains("result: physical address 0x234 = frame 0x0"),
        "{text}"
    );
    let out = ptbench(&["explain", "-d", "x86-64", "0x800000000000"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0x800000000000 is not canonical in the 48-bit address space"),
        "{err}"
    );
    let out = ptbench(&["explain", "-d", "two-level", "0x100000000"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0x100000000 is wider than the 32-bit address space"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let out = ptbench(&["explain", "-d", "two-level", "0xnope"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn explain_after_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.trace");
    std::fs::write(&t, "00001000 R\n00003000 W\n00001004 R\n").unwrap();
    let out = ptbench(&[
        "explain",
        "-d",
        "two-level",
        "--trace",
        t.to_str().unwrap(),
        "--json",
        "0x3010",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    // Pages 1 then 3 touched: page 3 has the second frame.
    assert_eq!(doc["addresses"][0]["pa"], "0x1010");
    assert_eq!(doc["addresses"][0]["steps"][1]["words"][0], "0x1037");
}

#[test]
fn size_agrees_with_the_classic_answers() {
    let text = stdout(&ptbench(&[
        "size",
        "--va-bits",
        "32",
        "--pobits",
        "12",
        "--pte-bytes",
        "4",
    ]));
    for line in [
        "  flat table         4 MiB (4,194,304 bytes)  2^(va_bits - pobits) * pte_bytes = 2^20 * 4\n",
        "  entries per table  1,024                    2^pobits / pte_bytes = 4096 / 4\n",
        "  bits per level     10                       log2(entries per table) = pobits - log2(pte_bytes) = 12 - 2\n",
        "  levels needed      2                        ceil((va_bits - pobits) / bits per level) = ceil(20 / 10)\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let out = ptbench(&[
        "size",
        "--va-bits",
        "48",
        "--pobits",
        "12",
        "--pte-bytes",
        "8",
        "--pages",
        "1000",
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["flat_table_bytes"], (512u64 << 30).to_string());
    assert_eq!(doc["entries_per_table"], 512);
    assert_eq!(doc["bits_per_level"], 9);
    assert_eq!(doc["levels_needed"], 4);
    // 1000 pages packed: 1 + 1 + 1 + ceil(1000 / 512) tables; spread: 1 + 512 + 1000 + 1000.
    assert_eq!(doc["best_tables"], "5");
    assert_eq!(doc["worst_tables"], "2513");
    let out = ptbench(&["size", "--va-bits", "48", "--pobits", "12", "--levels", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("they need 4 levels"));
}

#[test]
fn run_counts_or_refuses_non_canonical_addresses_and_inspect_reports_widths() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.trace");
    std::fs::write(
        &t,
        "ptbench-trace v1\nR 1000 8\nR ffff800000001000 8\nR 800000000000 8\n",
    )
    .unwrap();
    let s = t.to_str().unwrap();
    let out = ptbench(&["run", "-d", "x86-64", s]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("t.trace:4: access #2 at 0x800000000000 (8 bytes) is not canonical"),
        "{err}"
    );
    let out = ptbench(&[
        "run",
        "-q",
        "-d",
        "x86-64",
        "-d",
        "flat:va_bits=48",
        "--wide-addresses",
        "count",
        "--csv",
        "-",
        s,
    ]);
    let csv = stdout(&out);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"noncanonical"), "{header:?}");
    let col = |row: usize, name: &str| -> String {
        let i = header.iter().position(|h| *h == name).unwrap();
        csv.lines()
            .nth(row)
            .unwrap()
            .split(',')
            .nth(i)
            .unwrap()
            .to_string()
    };
    // x86-64: the upper-half access translates, bit 47 alone is not canonical.
    assert_eq!(
        (col(1, "accesses"), col(1, "noncanonical")),
        ("2".into(), "1".into())
    );
    // flat over 48 bits: 0x800000000000 fits, the upper half does not.
    assert_eq!(
        (col(2, "accesses"), col(2, "noncanonical")),
        ("2".into(), "1".into())
    );
    let text = stdout(&ptbench(&["inspect", s]));
    assert!(
        text.contains("address widths    accesses that fit: 32 bits 1, 39 bits 1, 48 bits 2, 57 bits 2; canonical 48 bits 2, canonical 57 bits 3 (of 3)"),
        "{text}"
    );
}

/// `x86-64 --huge 2m`: 0x40212345 = L0 index 0, L1 index 1, L2 index (0x40212345 >> 21) & 0x1ff
/// = 1, and 21 bits of offset, 0x12345: the walk stops at level 2, whose entry is the leaf of the
/// 2 MiB page (bit 3, H, set). Tables as in the two-level case: root 0x8000000000000, then
/// 0x...1000 and 0x...2000 in the order the mapping allocates them; the level 2 entry 1 is at
/// 0x...2000 + 8. Demand paging gives the page the first 2 MiB-aligned data frame, 0: the entry
/// is 0 | R (bit 5) | U (4) | H (3) | X (2) | W (1) | V = 0x3f, the address 0x12345, after three
/// references instead of four.
#[test]
fn explain_a_huge_page_walk_worked_out_by_hand() {
    let out = ptbench(&[
        "explain",
        "--design",
        "x86-64",
        "--huge",
        "2m",
        "--map",
        "0x40200000",
        "0x40212345",
    ]);
    let text = stdout(&out);
    let want = "\
design x86-64: 48-bit virtual addresses (canonical: bits 63 and up copy the top bit), 4KiB pages
mapped by demand paging (a read of each): 0x40200000

virtual address 0x40212345
  field           bits     binary                 hex
  sign extension  63..48   0000000000000000       0x0
  L0 index        47..39   000000000              0x0
  L1 index        38..30   000000001              0x1
  L2 index        29..21   000000001              0x1
  offset          20..0    000010010001101000101  0x12345
  = 0000000000000000 | 000000000 | 000000001 | 000000001 | 000010010001101000101
  step 1  level 0 table at 0x8000000000000, index 0x0
          read 0x8000000000000 = 0x0008000000001001
          V=1: next table at 0x8000000001000
  step 2  level 1 table at 0x8000000001000, index 0x1
          read 0x8000000001008 = 0x0008000000002001
          V=1: next table at 0x8000000002000
  step 3  level 2 table at 0x8000000002000, index 0x1
          read 0x8000000002008 = 0x000000000000003f
          V=1 R=1 W=1 X=1 U=1 H=1: leaf of a 2MiB page, frame 0x0, perms rwxu
  result: physical address 0x12345 = the page's first frame 0x0 (2MiB page, perms rwxu) + offset 0x12345; 3 memory references
";
    assert_eq!(text, want);

    // 1 GiB pages: two references, a 30-bit offset.
    let text = stdout(&ptbench(&[
        "explain",
        "-d",
        "x86-64",
        "--huge",
        "1g",
        "--map",
        "0x40000000",
        "0x7654321f",
    ]));
    assert!(text.contains("  offset          29..0 "), "{text}");
    assert!(!text.contains("L2 index"), "{text}");
    assert!(
        text.contains("step 2 ") && !text.contains("step 3 "),
        "{text}"
    );
    assert!(
        text.contains(
            "result: physical address 0x3654321f = the page's first frame 0x0 (1GiB page"
        ),
        "{text}"
    );

    // THP: only a 2 MiB region wholly inside the range of the --map addresses gets a huge page.
    let text = stdout(&ptbench(&[
        "explain",
        "-d",
        "x86-64",
        "--huge",
        "thp",
        "--map",
        "0x40000000,0x40400000",
        "0x40000010",
        "0x40400010",
    ]));
    let results: Vec<&str> = text.lines().filter(|l| l.contains("result:")).collect();
    assert_eq!(results.len(), 2, "{text}");
    assert!(results[0].contains("(2MiB page"), "{text}");
    assert!(results[1].contains("(4KiB page"), "{text}");

    // A design whose pages cannot be 2 MiB says so.
    let out = ptbench(&[
        "explain",
        "-d",
        "radix:levels=3,pobits=14",
        "--huge",
        "2m",
        "--map",
        "0x1000",
        "0x1000",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot store 2MiB pages"), "{err}");
}

/// x86-64 over x86-64, one page touched at 0x7ffc0000. Its first walk reads the guest's root
/// (guest-physical 0x800000000000, the first table frame of a 48-bit guest-physical space), which
/// the host maps on that first touch to host frame 0; the guest faults, its OS maps the page with
/// three new tables and the data frame 0; the walk again makes the host map the three tables (host
/// frames 1, 2, 3) and the data page (host frame 4). So explaining 0x7ffc0123 reads 24 entries:
/// four host walks each before one guest read, and the host walk of guest-physical page 0, which
/// the host put at 0x4000.
#[test]
fn explain_a_nested_walk_as_the_textbook_grid() {
    let out = ptbench(&[
        "explain",
        "-d",
        "nested",
        "--map",
        "0x7ffc0000",
        "0x7ffc0123",
    ]);
    let text = stdout(&out);
    let grid = "\
  two-dimensional walk: the steps of each host walk, then the guest read it allowed
                         host walk (steps)  guest read
    guest level 0 table    1   2   3   4      5
    guest level 1 table    6   7   8   9     10
    guest level 2 table   11  12  13  14     15
    guest level 3 table   16  17  18  19     20
    the guest page        21  22  23  24    = host-physical 0x4000
  result: guest-physical address 0x123 = frame 0x0 (4KiB page, perms rwxu) + offset 0x123; 24 memory references (4 by the guest, 20 by 5 host walks)
";
    assert!(text.ends_with(grid), "{text}");
    assert!(text.contains("  step 5   guest level 0 table at 0x800000000000, index 0x0\n           read 0x0 = 0x0000800000001001\n"), "{text}");
    let out = ptbench(&[
        "explain",
        "-d",
        "nested",
        "--map",
        "0x7ffc0000",
        "--json",
        "0x7ffc0123",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let a = &doc["addresses"][0];
    assert_eq!(a["refs"], 24);
    assert_eq!(a["host_refs"], 20);
    assert_eq!(a["host_walks"], 5);
    assert_eq!(a["grid"].as_array().unwrap().len(), 6);
}
