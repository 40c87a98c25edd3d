//! Slurm job-array scripts for a sharded ptbench sweep, and the balancing of sweep cells across
//! shards.
//!
//! A sweep split into `N` shards runs on Slurm as three files written side by side:
//!
//! - `array.sbatch` ([`array_script`]): a job array `--array=0-(N-1)`. Task `I` runs
//!   `ptbench sweep EXPERIMENT --out OUT/shard-I --shard I/N --resume`: **shard indices are
//!   0-based**, `I` is `$SLURM_ARRAY_TASK_ID`, from `0` to `N-1`; `--resume` makes a rerun of a
//!   failed task finish only the cells it is missing. Each task logs to `OUT/logs/shard-I.out`.
//! - `merge.sbatch` ([`merge_script`]): `ptbench merge` of the `N` files
//!   `OUT/shard-0/results.csv` .. `OUT/shard-(N-1)/results.csv`, named one by one in shard order
//!   (not by a glob, so that a missing shard reaches `merge` as a missing file rather than
//!   silently dropping out), into `OUT/merged` (`--no-report`), then `ptbench report` of
//!   `OUT/merged/results.csv` into `OUT/merged`. Logs to `OUT/logs/merge.out`.
//! - `submit.sh` ([`submit_script`]): creates `OUT/logs` (Slurm does not create log folders),
//!   submits the array (`jid=$(sbatch --parsable array.sbatch)`), then the merge as a dependent job
//!   (`sbatch --dependency=afterok:$jid --kill-on-invalid-dep=yes merge.sbatch`), and prints both
//!   job ids. `--wait` waits for the merge and, when it did not run, names the shards that failed;
//!   `--shards LIST` (a Slurm array list such as `1,3` or `0-2`) submits only those shards and then
//!   the merge again, which is how failed shards are rerun alone.
//!
//! The layout under `OUT` is therefore `shard-0/ .. shard-(N-1)/` (each a complete `sweep --out`
//! folder), `logs/`, and `merged/` (the one `results.csv` and the report).
//!
//! Paths are embedded literally: relative ones are relative to the folder `sbatch` is run from,
//! so callers should pass absolute paths. Shell variables hold them single-quoted (`'` written
//! as `'\''`); `#SBATCH --output` holds them double-quoted with `\` and `"` escaped (the form
//! `sbatch` parses in `#SBATCH` lines) and `%` doubled (Slurm's file-name patterns). A path with
//! a newline, or not valid UTF-8, is refused.
//!
//! [`SlurmOptions`] are validated when they are built: at least one shard and at most
//! [`MAX_SHARDS`]; a `--time` in one of Slurm's forms `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`,
//! `D-HH:MM`, `D-HH:MM:SS`; a `--mem` such as `4G` or `500M`; partition and job names without
//! white space or quotes.
//!
//! [`balance`] assigns sweep cells to shards by estimated work (trace length times
//! configurations), not by count: a deterministic greedy longest-processing-time assignment.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Most shards one job array may have: Slurm's default `MaxArraySize` is 1001 (indices 0..=1000).
pub const MAX_SHARDS: u32 = 1001;

/// Why options, paths or a balance request were refused.
#[derive(Debug, Error)]
pub enum SlurmError {
    #[error("--shards must be at least 1")]
    ZeroShards,
    #[error("--shards {0} is more than {MAX_SHARDS}, Slurm's default MaxArraySize")]
    TooManyShards(u32),
    #[error(
        "--time {0:?} is not a Slurm time: use MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS \
         (minutes and seconds below 60, hours after a day count below 24)"
    )]
    BadTime(String),
    #[error("--mem {0:?} is not a Slurm memory size: use a whole number with an optional unit K, M, G or T, such as 4G")]
    BadMem(String),
    #[error("--partition {0:?} is not a partition name: use letters, digits and . _ - (and , between names)")]
    BadPartition(String),
    #[error("job name {0:?} is not usable: use 1 to 64 letters, digits and . _ - +")]
    BadJobName(String),
    #[error("{what} path {path:?} cannot be written into a job script: {why}")]
    BadPath {
        what: &'static str,
        path: PathBuf,
        why: &'static str,
    },
    #[error("cannot write {path:?}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the job scripts ask of Slurm. Built by [`SlurmOptions::new`] and the `with_*` methods,
/// which validate every value, so the script generators cannot fail on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmOptions {
    shards: u32,
    partition: Option<String>,
    time: Option<String>,
    mem: Option<String>,
    job_name: String,
}

impl SlurmOptions {
    /// `shards` array tasks (1 to [`MAX_SHARDS`]) under the job name `job_name`; no partition,
    /// time or memory request (the cluster's defaults apply).
    pub fn new(shards: u32, job_name: &str) -> Result<Self, SlurmError> {
        check_shards(shards)?;
        let name_ok = !job_name.is_empty()
            && job_name.len() <= 64
            && job_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
        if !name_ok {
            return Err(SlurmError::BadJobName(job_name.to_string()));
        }
        Ok(SlurmOptions {
            shards,
            partition: None,
            time: None,
            mem: None,
            job_name: job_name.to_string(),
        })
    }

    /// `#SBATCH --partition=P`.
    pub fn with_partition(mut self, partition: &str) -> Result<Self, SlurmError> {
        let ok = !partition.is_empty()
            && partition.split(',').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            });
        if !ok {
            return Err(SlurmError::BadPartition(partition.to_string()));
        }
        self.partition = Some(partition.to_string());
        Ok(self)
    }

    /// `#SBATCH --time=T`, in one of Slurm's forms (see [`valid_time`]).
    pub fn with_time(mut self, time: &str) -> Result<Self, SlurmError> {
        if !valid_time(time) {
            return Err(SlurmError::BadTime(time.to_string()));
        }
        self.time = Some(time.to_string());
        Ok(self)
    }

    /// `#SBATCH --mem=M`: a whole number with an optional unit `K`, `M`, `G` or `T`.
    pub fn with_mem(mut self, mem: &str) -> Result<Self, SlurmError> {
        let digits = mem.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
        let ok = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && mem.len() - digits.len() <= 1;
        if !ok {
            return Err(SlurmError::BadMem(mem.to_string()));
        }
        self.mem = Some(mem.to_string());
        Ok(self)
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }
    pub fn partition(&self) -> Option<&str> {
        self.partition.as_deref()
    }
    pub fn time(&self) -> Option<&str> {
        self.time.as_deref()
    }
    pub fn mem(&self) -> Option<&str> {
        self.mem.as_deref()
    }
    pub fn job_name(&self) -> &str {
        &self.job_name
    }
}

fn check_shards(shards: u32) -> Result<(), SlurmError> {
    match shards {
        0 => Err(SlurmError::ZeroShards),
        n if n > MAX_SHARDS => Err(SlurmError::TooManyShards(n)),
        _ => Ok(()),
    }
}

/// Whether `time` is a Slurm time limit in one of the forms `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`,
/// `D-HH:MM`, `D-HH:MM:SS`. Every field is decimal digits; the leading field is unbounded;
/// minutes and seconds after a colon are below 60, and hours after `D-` below 24.
pub fn valid_time(time: &str) -> bool {
    fn num(s: &str) -> Option<u64> {
        if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    let below = |s: &str, limit: u64| num(s).is_some_and(|v| v < limit);
    match time.split_once('-') {
        Some((days, rest)) => {
            if num(days).is_none() {
                return false;
            }
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.as_slice() {
                [h] => below(h, 24),
                [h, m] => below(h, 24) && below(m, 60),
                [h, m, s] => below(h, 24) && below(m, 60) && below(s, 60),
                _ => false,
            }
        }
        None => {
            let parts: Vec<&str> = time.split(':').collect();
            match parts.as_slice() {
                [m] => num(m).is_some(),
                [m, s] => num(m).is_some() && below(s, 60),
                [h, m, s] => num(h).is_some() && below(m, 60) && below(s, 60),
                _ => false,
            }
        }
    }
}

/// `s` as one shell word: single-quoted, each `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `s` as a value in an `#SBATCH` line: double-quoted, with `\` and `"` backslash-escaped.
fn sbatch_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `path` as text for a script, or why it cannot be.
fn path_text<'a>(what: &'static str, path: &'a Path) -> Result<&'a str, SlurmError> {
    let bad = |why| SlurmError::BadPath {
        what,
        path: path.to_path_buf(),
        why,
    };
    let s = path.to_str().ok_or_else(|| bad("it is not valid UTF-8"))?;
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    if s.contains(['\n', '\r', '\0']) {
        return Err(bad("it contains a line break or NUL"));
    }
    Ok(s)
}

/// A Slurm `--output` file name under `out_dir/logs`: `%` in the folder doubled, so that only the
/// pattern in `file` (such as `%a`) is expanded by Slurm.
fn log_path(out_dir: &str, file: &str) -> String {
    format!(
        "{}/logs/{}",
        out_dir.trim_end_matches('/').replace('%', "%%"),
        file
    )
}

fn sbatch_header(s: &mut String, opts: &SlurmOptions, job_name: &str, output: &str) {
    let _ = writeln!(s, "#SBATCH --job-name={job_name}");
    let _ = writeln!(s, "#SBATCH --output={}", sbatch_quote(output));
    if let Some(p) = &opts.partition {
        let _ = writeln!(s, "#SBATCH --partition={p}");
    }
    if let Some(t) = &opts.time {
        let _ = writeln!(s, "#SBATCH --time={t}");
    }
    if let Some(m) = &opts.mem {
        let _ = writeln!(s, "#SBATCH --mem={m}");
    }
}

/// The job-array script (`array.sbatch`): task `I` of `0..N` runs
/// `"$PTBENCH" sweep EXPERIMENT --out OUT/shard-I --shard I/N`.
pub fn array_script(
    opts: &SlurmOptions,
    ptbench_bin: &str,
    experiment: &Path,
    out_dir: &Path,
) -> Result<String, SlurmError> {
    let bin = path_text("ptbench", Path::new(ptbench_bin))?;
    let exp = path_text("experiment", experiment)?;
    let out = path_text("output", out_dir)?;
    let n = opts.shards;
    let mut s = String::new();
    s.push_str("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "# ptbench sweep as a Slurm job array: task I runs shard I/{n}, I = $SLURM_ARRAY_TASK_ID from 0 to {}.",
        n - 1
    );
    s.push_str(
        "# Submit with submit.sh (which also queues the merge), or alone: sbatch array.sbatch\n",
    );
    s.push_str(
        "# Rerun some shards only: sbatch --array=1,3 array.sbatch (or submit.sh --shards 1,3)\n",
    );
    let _ = writeln!(s, "#SBATCH --array=0-{}", n - 1);
    sbatch_header(&mut s, opts, &opts.job_name, &log_path(out, "shard-%a.out"));
    s.push_str("set -euo pipefail\n");
    let _ = writeln!(s, "PTBENCH={}", shell_quote(bin));
    let _ = writeln!(s, "EXPERIMENT={}", shell_quote(exp));
    let _ = writeln!(s, "OUT={}", shell_quote(out));
    let _ = writeln!(s, "SHARDS={n}");
    s.push_str(
        "I=\"${SLURM_ARRAY_TASK_ID:?not a task of a Slurm job array: submit with sbatch}\"\n",
    );
    s.push_str(
        "exec \"$PTBENCH\" sweep \"$EXPERIMENT\" --out \"$OUT/shard-$I\" --shard \"$I/$SHARDS\" --resume\n",
    );
    Ok(s)
}

/// The merge job (`merge.sbatch`): `ptbench merge` of the `N` shards' `results.csv`, in shard
/// order, into `OUT/merged`, then `ptbench report` of the merged `results.csv` into the same folder.
pub fn merge_script(
    opts: &SlurmOptions,
    ptbench_bin: &str,
    out_dir: &Path,
) -> Result<String, SlurmError> {
    let bin = path_text("ptbench", Path::new(ptbench_bin))?;
    let out = path_text("output", out_dir)?;
    let n = opts.shards;
    let mut s = String::new();
    s.push_str("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "# Merges the {n} shards' results into OUT/merged: one results.csv, and the report."
    );
    s.push_str("# Queued by submit.sh to start only when every shard succeeded (afterok).\n");
    sbatch_header(
        &mut s,
        opts,
        &format!("{}-merge", opts.job_name),
        &log_path(out, "merge.out"),
    );
    s.push_str("set -euo pipefail\n");
    let _ = writeln!(s, "PTBENCH={}", shell_quote(bin));
    let _ = writeln!(s, "OUT={}", shell_quote(out));
    let _ = writeln!(s, "SHARDS={n}");
    s.push_str("results=()\n");
    s.push_str(
        "for ((i = 0; i < SHARDS; i++)); do results+=(\"$OUT/shard-$i/results.csv\"); done\n",
    );
    s.push_str("\"$PTBENCH\" merge \"${results[@]}\" --out \"$OUT/merged\" --no-report\n");
    s.push_str("\"$PTBENCH\" report \"$OUT/merged/results.csv\" --out \"$OUT/merged\"\n");
    Ok(s)
}

/// `submit.sh`: submits `array.sbatch`, then `merge.sbatch` as a job that depends on it
/// (`afterok`, cancelled if a shard fails), both from the folder the script is in; prints both job
/// ids. Options: `--wait` (wait for the merge; exit 1 naming the failed shards if it did not
/// complete) and `--shards LIST` (submit only those array tasks, to rerun failed shards).
pub fn submit_script(opts: &SlurmOptions, out_dir: &Path) -> Result<String, SlurmError> {
    let out = path_text("output", out_dir)?;
    let n = opts.shards;
    let mut s = String::new();
    s.push_str("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "# Submits the sweep to Slurm: {n} shards as the job array array.sbatch (tasks 0 to {}), then",
        n - 1
    );
    s.push_str(
        "# merge.sbatch as a job that starts when every shard succeeded (--dependency=afterok) and
# is cancelled if one fails.
#   submit.sh [--wait] [--shards LIST]
#   --wait          wait for the merge; exit 1, naming the failed shards, if it did not complete
#   --shards LIST   submit only these shards (a Slurm array list: 1,3 or 0-2), e.g. to rerun the
#                   failed ones; the merge then runs again over all shards' results
set -euo pipefail
here=$(cd \"$(dirname \"${BASH_SOURCE[0]}\")\" && pwd)
",
    );
    let _ = writeln!(s, "OUT={}", shell_quote(out));
    s.push_str(
        r#"wait=0
array=()
usage() {
  echo "usage: submit.sh [--wait] [--shards LIST]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --wait) wait=1 ;;
    --shards) [ $# -ge 2 ] || usage; array=("--array=$2"); shift ;;
    --shards=*) array=("--array=${1#--shards=}") ;;
    *) usage ;;
  esac
  shift
done
mkdir -p "$OUT/logs"
jid=$(sbatch --parsable ${array[@]+"${array[@]}"} "$here/array.sbatch")
jid=${jid%%;*}
echo "shards: job $jid"
mid=$(sbatch --parsable --dependency="afterok:$jid" --kill-on-invalid-dep=yes "$here/merge.sbatch")
mid=${mid%%;*}
echo "merge: job $mid (after $jid)"
[ "$wait" = 1 ] || exit 0
# scontrol keeps a finished job for MinJobAge (300 s by default): poll well within it.
unknown=0
while :; do
  state=$(scontrol -o show job "$mid" 2>/dev/null | sed -n 's/.* JobState=\([A-Z_]*\) .*/\1/p' | head -n 1)
  case "$state" in
    PENDING | RUNNING | CONFIGURING | COMPLETING | SUSPENDED | REQUEUED | RESIZING) unknown=0 ;;
    "") unknown=$((unknown + 1)); [ "$unknown" -lt 12 ] || { state=UNKNOWN; break; } ;;
    *) break ;;
  esac
  sleep "${PTBENCH_SLURM_POLL:-5}"
done
if [ "$state" = COMPLETED ]; then
  echo "merged: $OUT/merged/results.csv"
  exit 0
fi
# The merge is cancelled as soon as one shard fails: let the other shards end before listing.
while [ -n "$(squeue -h -j "$jid" -o %i 2>/dev/null)" ]; do sleep "${PTBENCH_SLURM_POLL:-5}"; done
failed=$(scontrol -o show job "$jid" 2>/dev/null | sed -n 's/.* ArrayTaskId=\([^ ]*\) .* JobState=\([A-Z_]*\) .*/\1 \2/p' |
  awk '$2 != "COMPLETED" { printf "%s%s", sep, $1; sep = "," }')
echo "submit.sh: the merge (job $mid) ended ${state}; shards not completed: ${failed:-unknown}" >&2
echo "submit.sh: see $OUT/logs; rerun them alone with: $(printf %q "$here/submit.sh") --wait --shards ${failed:-LIST}" >&2
exit 1
"#,
    );
    Ok(s)
}

/// Writes `array.sbatch`, `merge.sbatch` and an executable `submit.sh` into `script_dir`
/// (created if needed) and returns their paths, in that order.
pub fn write_scripts(
    script_dir: &Path,
    opts: &SlurmOptions,
    ptbench_bin: &str,
    experiment: &Path,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, SlurmError> {
    let files = [
        (
            "array.sbatch",
            array_script(opts, ptbench_bin, experiment, out_dir)?,
        ),
        ("merge.sbatch", merge_script(opts, ptbench_bin, out_dir)?),
        ("submit.sh", submit_script(opts, out_dir)?),
    ];
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SlurmError::Io { path, source }
    };
    std::fs::create_dir_all(script_dir).map_err(io(script_dir))?;
    let mut paths = Vec::new();
    for (name, text) in files {
        let path = script_dir.join(name);
        std::fs::write(&path, text).map_err(io(&path))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = if name.ends_with(".sh") { 0o755 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(io(&path))?;
        }
        paths.push(path);
    }
    Ok(paths)
}

/// Assigns cells to `shards` shards by estimated work: a deterministic greedy
/// longest-processing-time assignment. Cells are taken by work descending (ties by key, then by
/// position), each to the shard with the least work so far (ties to the lowest shard index).
/// Returns, for each shard, the positions in `work` of its cells in ascending order; every cell
/// is in exactly one shard, and shards beyond the number of cells are empty.
///
/// This is [`ptbench_sweep::balance`] (the split `ptbench sweep --shard I/N` uses) over the cells
/// ordered by key: there is one balancing implementation. `ptbench sweep --emit-slurm` does not
/// call this: each array task recomputes its own shard from the experiment with
/// [`ptbench_sweep::shards`].
pub fn balance(work: &[(String, u64)], shards: u32) -> Result<Vec<Vec<usize>>, SlurmError> {
    check_shards(shards)?;
    // Ties by key, then position: hand the cells to the sweep's balance in that order.
    let mut by_key: Vec<usize> = (0..work.len()).collect();
    by_key.sort_by(|&a, &b| work[a].0.cmp(&work[b].0).then(a.cmp(&b)));
    let weights: Vec<u64> = by_key.iter().map(|&i| work[i].1).collect();
    let mut assigned: Vec<Vec<usize>> = ptbench_sweep::balance(&weights, shards)
        .into_iter()
        .map(|slice| slice.into_iter().map(|j| by_key[j]).collect())
        .collect();
    for cells in &mut assigned {
        cells.sort_unstable();
    }
    Ok(assigned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|&(k, w)| (k.to_string(), w)).collect()
    }

    fn opts(n: u32) -> SlurmOptions {
        SlurmOptions::new(n, "ptbench-sweep").unwrap()
    }

    fn assert_partition(result: &[Vec<usize>], n: usize) {
        let mut seen = vec![0; n];
        for shard in result {
            for &c in shard {
                seen[c] += 1;
            }
        }
        assert!(seen.iter().all(|&k| k == 1), "each cell once: {seen:?}");
    }

    #[test]
    fn balance_by_work_not_count() {
        // One long trace and five short ones: by count, 3+3; by work, the long one alone.
        let w = cells(&[
            ("a", 10),
            ("b", 10),
            ("big", 100),
            ("c", 10),
            ("d", 10),
            ("e", 10),
        ]);
        let got = balance(&w, 2).unwrap();
        assert_eq!(got, vec![vec![2], vec![0, 1, 3, 4, 5]]);
        assert_partition(&got, w.len());
    }

    #[test]
    fn balance_exact_lpt() {
        // Sorted: g7 f6 e5 d4 c3 b2 a1 -> loads: s0 g7; s1 f6; s2 e5; d4 -> s2 (9); c3 -> s1 (9);
        // b2 -> s0 (9); a1 -> s0 (10, ties to lowest index).
        let w = cells(&[
            ("a", 1),
            ("b", 2),
            ("c", 3),
            ("d", 4),
            ("e", 5),
            ("f", 6),
            ("g", 7),
        ]);
        let got = balance(&w, 3).unwrap();
        assert_eq!(got, vec![vec![0, 1, 6], vec![2, 5], vec![3, 4]]);
        assert_partition(&got, w.len());
    }

    #[test]
    fn balance_ties_by_key_then_lowest_shard() {
        // Equal work: taken in key order m, n, x, y; shards 0, 1, 2 in turn.
        let w = cells(&[("y", 5), ("x", 5), ("m", 5), ("n", 5)]);
        let got = balance(&w, 3).unwrap();
        // m -> s0, n -> s1, x -> s2, y -> s0 (all at 5, lowest index).
        assert_eq!(got, vec![vec![0, 2], vec![3], vec![1]]);
        assert_partition(&got, w.len());
        // The same input in another order gives the same shards of keys.
        let w2 = cells(&[("n", 5), ("m", 5), ("x", 5), ("y", 5)]);
        let keys = |w: &[(String, u64)], r: Vec<Vec<usize>>| -> Vec<Vec<String>> {
            r.into_iter()
                .map(|s| {
                    let mut k: Vec<String> = s.into_iter().map(|i| w[i].0.clone()).collect();
                    k.sort();
                    k
                })
                .collect()
        };
        assert_eq!(
            keys(&w, balance(&w, 3).unwrap()),
            keys(&w2, balance(&w2, 3).unwrap())
        );
    }

    #[test]
    fn balance_more_shards_than_cells_and_edge_cases() {
        let w = cells(&[("a", 3), ("b", 0)]);
        assert_eq!(
            balance(&w, 4).unwrap(),
            vec![vec![0], vec![1], vec![], vec![]]
        );
        assert_eq!(balance(&[], 2).unwrap(), vec![Vec::<usize>::new(), vec![]]);
        assert_eq!(balance(&w, 1).unwrap(), vec![vec![0, 1]]);
        assert!(matches!(balance(&w, 0), Err(SlurmError::ZeroShards)));
        // Huge works do not overflow.
        let big = cells(&[("a", u64::MAX), ("b", u64::MAX), ("c", u64::MAX)]);
        assert_eq!(balance(&big, 2).unwrap(), vec![vec![0, 2], vec![1]]);
    }

    #[test]
    fn balance_many_cells_each_once_and_close_loads() {
        let w: Vec<(String, u64)> = (0..200u64)
            .map(|i| (format!("cell-{i:03}"), (i * 7919) % 1000 + 1))
            .collect();
        let got = balance(&w, 7).unwrap();
        assert_partition(&got, w.len());
        let loads: Vec<u64> = got
            .iter()
            .map(|s| s.iter().map(|&i| w[i].1).sum())
            .collect();
        let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
        // LPT: the spread is at most the largest single cell.
        assert!(max - min <= 1000, "{loads:?}");
        assert_eq!(got, balance(&w, 7).unwrap());
    }

    #[test]
    fn times() {
        for ok in [
            "0",
            "30",
            "1440",
            "30:00",
            "5:30",
            "1:00:00",
            "100:59:59",
            "2-0",
            "2-12",
            "1-12:30",
            "1-12:30:15",
            "7-23:59:59",
        ] {
            assert!(valid_time(ok), "{ok}");
            assert!(opts(1).with_time(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "abc",
            "1h",
            "1:60",
            "1:00:60",
            "1:2:3:4",
            "-1",
            "1-",
            "1-24",
            "1-1:60",
            "1--1",
            "1-1-1",
            ":30",
            "1:",
            " 1",
            "1.5",
            "+1",
            "1-2:3:4:5",
            "１",
        ] {
            assert!(!valid_time(bad), "{bad:?}");
            assert!(
                matches!(opts(1).with_time(bad), Err(SlurmError::BadTime(t)) if t == bad),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn options_validation() {
        assert!(matches!(
            SlurmOptions::new(0, "x"),
            Err(SlurmError::ZeroShards)
        ));
        assert!(matches!(
            SlurmOptions::new(MAX_SHARDS + 1, "x"),
            Err(SlurmError::TooManyShards(1002))
        ));
        assert!(SlurmOptions::new(MAX_SHARDS, "x").is_ok());
        for bad in ["", "a b", "a'b", "a\"b", "a#b", &"x".repeat(65)] {
            assert!(
                matches!(SlurmOptions::new(1, bad), Err(SlurmError::BadJobName(_))),
                "{bad:?}"
            );
        }
        for ok in ["4G", "500M", "1024", "2t", "64k"] {
            assert_eq!(opts(1).with_mem(ok).unwrap().mem(), Some(ok));
        }
        for bad in ["", "G", "4GB", "4 G", "-1", "1.5G", "4GG"] {
            assert!(
                matches!(opts(1).with_mem(bad), Err(SlurmError::BadMem(_))),
                "{bad:?}"
            );
        }
        for ok in ["debug", "gpu-a100", "short,long", "p_1.x"] {
            assert_eq!(opts(1).with_partition(ok).unwrap().partition(), Some(ok));
        }
        for bad in ["", "a b", "a,", ",a", "a;b", "a\"b", "a\nb"] {
            assert!(
                matches!(
                    opts(1).with_partition(bad),
                    Err(SlurmError::BadPartition(_))
                ),
                "{bad:?}"
            );
        }
        let msg = opts(1).with_time("abc").unwrap_err().to_string();
        assert!(
            msg.contains("\"abc\"") && msg.contains("D-HH:MM:SS"),
            "{msg}"
        );
        assert_eq!(
            SlurmError::ZeroShards.to_string(),
            "--shards must be at least 1"
        );
    }

    #[test]
    fn array_script_exact() {
        let o = opts(4)
            .with_partition("debug")
            .unwrap()
            .with_time("1:00:00")
            .unwrap()
            .with_mem("2G")
            .unwrap();
        let s = array_script(
            &o,
            "/opt/ptbench/bin/ptbench",
            Path::new("/home/u/exp.toml"),
            Path::new("/scratch/u/run1"),
        )
        .unwrap();
        assert_eq!(
            s,
            r#"#!/bin/bash
# ptbench sweep as a Slurm job array: task I runs shard I/4, I = $SLURM_ARRAY_TASK_ID from 0 to 3.
# Submit with submit.sh (which also queues the merge), or alone: sbatch array.sbatch
# Rerun some shards only: sbatch --array=1,3 array.sbatch (or submit.sh --shards 1,3)
#SBATCH --array=0-3
#SBATCH --job-name=ptbench-sweep
#SBATCH --output="/scratch/u/run1/logs/shard-%a.out"
#SBATCH --partition=debug
#SBATCH --time=1:00:00
#SBATCH --mem=2G
set -euo pipefail
PTBENCH='/opt/ptbench/bin/ptbench'
EXPERIMENT='/home/u/exp.toml'
OUT='/scratch/u/run1'
SHARDS=4
I="${SLURM_ARRAY_TASK_ID:?not a task of a Slurm job array: submit with sbatch}"
exec "$PTBENCH" sweep "$EXPERIMENT" --out "$OUT/shard-$I" --shard "$I/$SHARDS" --resume
"#
        );
    }

    #[test]
    fn merge_script_exact() {
        let s = merge_script(&opts(2), "ptbench", Path::new("/o")).unwrap();
        assert_eq!(
            s,
            r#"#!/bin/bash
# Merges the 2 shards' results into OUT/merged: one results.csv, and the report.
# Queued by submit.sh to start only when every shard succeeded (afterok).
#SBATCH --job-name=ptbench-sweep-merge
#SBATCH --output="/o/logs/merge.out"
set -euo pipefail
PTBENCH='ptbench'
OUT='/o'
SHARDS=2
results=()
for ((i = 0; i < SHARDS; i++)); do results+=("$OUT/shard-$i/results.csv"); done
"$PTBENCH" merge "${results[@]}" --out "$OUT/merged" --no-report
"$PTBENCH" report "$OUT/merged/results.csv" --out "$OUT/merged"
"#
        );
    }

    #[test]
    fn submit_script_submits_array_then_dependent_merge() {
        let s = submit_script(&opts(3), Path::new("/o")).unwrap();
        assert!(s.starts_with("#!/bin/bash\n"));
        assert!(s.contains("\nset -euo pipefail\n"));
        assert!(s.contains("\nOUT='/o'\n"));
        assert!(s.contains("\nmkdir -p \"$OUT/logs\"\n"));
        assert!(s.contains(
            "jid=$(sbatch --parsable ${array[@]+\"${array[@]}\"} \"$here/array.sbatch\")"
        ));
        assert!(s.contains(
            "mid=$(sbatch --parsable --dependency=\"afterok:$jid\" --kill-on-invalid-dep=yes \"$here/merge.sbatch\")"
        ));
        assert!(s.contains("echo \"shards: job $jid\""));
        assert!(s.contains("echo \"merge: job $mid (after $jid)\""));
        assert!(s.contains("--shards) [ $# -ge 2 ] || usage; array=(\"--array=$2\"); shift ;;"));
    }

    #[test]
    fn awkward_paths_are_quoted() {
        let out = Path::new("/data/it's a \"run\" 100%\\x");
        let s = array_script(&opts(1), "/bin/p tb", Path::new("/e/x'.toml"), out).unwrap();
        assert!(s.contains("\n#SBATCH --array=0-0\n"));
        assert!(s.contains("\nPTBENCH='/bin/p tb'\n"));
        assert!(s.contains("\nEXPERIMENT='/e/x'\\''.toml'\n"));
        assert!(s.contains("\nOUT='/data/it'\\''s a \"run\" 100%\\x'\n"));
        assert!(s.contains(
            "\n#SBATCH --output=\"/data/it's a \\\"run\\\" 100%%\\\\x/logs/shard-%a.out\"\n"
        ));
        let m = submit_script(&opts(1), out).unwrap();
        assert!(m.contains("\nOUT='/data/it'\\''s a \"run\" 100%\\x'\n"));
        // Trailing slashes do not double in log paths.
        let s = merge_script(&opts(1), "p", Path::new("/o/")).unwrap();
        assert!(s.contains("\n#SBATCH --output=\"/o/logs/merge.out\"\n"));
        for bad in ["/a\nb", "/a\rb", ""] {
            assert!(matches!(
                array_script(&opts(1), "p", Path::new("e"), Path::new(bad)),
                Err(SlurmError::BadPath { what: "output", .. })
            ));
        }
        #[cfg(unix)]
        {
            use std::ffi::OsStr;
            use std::os::unix::ffi::OsStrExt;
            let p = Path::new(OsStr::from_bytes(b"/x\xff"));
            assert!(matches!(
                merge_script(&opts(1), "p", p),
                Err(SlurmError::BadPath { .. })
            ));
        }
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn write_scripts_writes_three_files() {
        let dir = std::env::temp_dir().join(format!("ptbench-slurm-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let paths = write_scripts(
            &dir.join("slurm"),
            &opts(2),
            "ptbench",
            Path::new("/e.toml"),
            Path::new("/o"),
        )
        .unwrap();
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["array.sbatch", "merge.sbatch", "submit.sh"]);
        assert_eq!(
            std::fs::read_to_string(&paths[1]).unwrap(),
            merge_script(&opts(2), "ptbench", Path::new("/o")).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&paths[2]).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o755);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
