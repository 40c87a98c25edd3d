//! The OS settings of a run ([`OsConfig`]): a memory limit, a replacement policy, the first-touch
//! model, what a violation does, watched variables. One struct with a canonical string form
//! (`frames=64,policy=lru,first_touch=disk`) that [`OsConfig::from_str`] parses back, so a sweep
//! can set it per cell and key cells by it.

use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A bad OS setting.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Which resident page a fault evicts when no data frame is free.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// The page loaded longest ago.
    Fifo,
    /// The least recently used page.
    #[default]
    Lru,
    /// Second chance with one hand from frame 0: a set reference bit is cleared and the hand moves
    /// on; the first frame with a clear bit is the victim, and the hand stops just past it.
    Clock,
    /// A frame drawn from a seeded generator.
    Random,
    /// Belady's optimal: the page used farthest in the future (needs the trace's next uses).
    Opt,
    /// Not recently used: the lowest class of (referenced, dirty), reference bits cleared every
    /// `period` translations; ties go to the lowest frame.
    Nru,
    /// Aging: an 8-bit counter per frame shifted right every `period` translations with the
    /// reference bit entering at the top; the lowest counter goes (ties: the lowest frame).
    Aging,
}

impl Policy {
    /// Every policy, by name.
    pub const ALL: [(&'static str, Policy); 7] = [
        ("fifo", Policy::Fifo),
        ("lru", Policy::Lru),
        ("clock", Policy::Clock),
        ("random", Policy::Random),
        ("opt", Policy::Opt),
        ("nru", Policy::Nru),
        ("aging", Policy::Aging),
    ];

    /// The policy's name (`fifo`, `lru`, `clock`, `random`, `opt`, `nru`, `aging`).
    pub fn name(self) -> &'static str {
        Policy::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("?", |(n, _)| n)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Policy {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Policy, ConfigError> {
        Policy::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                ConfigError(format!(
                    "unknown policy `{s}`; known: fifo, lru, clock, random, opt, nru, aging"
                ))
            })
    }
}

/// What the first touch of an anonymous page costs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum FirstTouch {
    /// A minor fault that reads nothing (a zero-filled page, as Linux does).
    #[default]
    Zero,
    /// Every fault reads the page from disk (a major fault), as course simulators count.
    Disk,
}

impl FirstTouch {
    /// `zero` or `disk`.
    pub fn name(self) -> &'static str {
        match self {
            FirstTouch::Zero => "zero",
            FirstTouch::Disk => "disk",
        }
    }
}

impl FromStr for FirstTouch {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<FirstTouch, ConfigError> {
        match s {
            "zero" => Ok(FirstTouch::Zero),
            "disk" => Ok(FirstTouch::Disk),
            _ => Err(ConfigError(format!(
                "unknown first-touch model `{s}`; known: zero, disk"
            ))),
        }
    }
}

/// What a protection fault or a segmentation fault does.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum OnViolation {
    /// Count it and go on as if the access were allowed (a segmentation fault skips the access).
    #[default]
    Continue,
    /// Stop the replay with an error naming the access.
    Stop,
}

impl OnViolation {
    /// `continue` or `stop`.
    pub fn name(self) -> &'static str {
        match self {
            OnViolation::Continue => "continue",
            OnViolation::Stop => "stop",
        }
    }
}

impl FromStr for OnViolation {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<OnViolation, ConfigError> {
        match s {
            "continue" => Ok(OnViolation::Continue),
            "stop" => Ok(OnViolation::Stop),
            _ => Err(ConfigError(format!(
                "unknown violation outcome `{s}`; known: continue, stop"
            ))),
        }
    }
}

/// A watched variable: `len` bytes from `addr`, in every address space.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Watch {
    /// First byte.
    pub addr: u64,
    /// Bytes (at least 1).
    pub len: u64,
}

impl FromStr for Watch {
    type Err = ConfigError;
    /// `VA[:LEN]`, the address in hex (`0x` optional), the length in decimal (default 8).
    fn from_str(s: &str) -> Result<Watch, ConfigError> {
        let bad = || {
            ConfigError(format!(
                "bad watch `{s}`: expected VA[:LEN], e.g. 0x601040:8"
            ))
        };
        let (va, len) = s.split_once(':').unwrap_or((s, "8"));
        let va = va.trim_start_matches("0x").trim_start_matches("0X");
        let addr = u64::from_str_radix(va, 16).map_err(|_| bad())?;
        let len: u64 = len.parse().map_err(|_| bad())?;
        if len == 0 || addr.checked_add(len - 1).is_none() {
            return Err(bad());
        }
        Ok(Watch { addr, len })
    }
}

impl fmt::Display for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}:{}", self.addr, self.len)
    }
}

/// The OS settings of a run. The default is today's model: no memory limit, so nothing is ever
/// evicted and every fault is a minor one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OsConfig {
    /// Data frames the OS may use (`None`: as many as the machine has).
    pub frames: Option<u64>,
    /// Replacement policy when no frame is free.
    pub policy: Policy,
    /// What a first touch costs.
    pub first_touch: FirstTouch,
    /// What protection and segmentation faults do.
    pub on_violation: OnViolation,
    /// Seed of `random`.
    pub seed: u64,
    /// Translations between reference-bit resets (`nru`) and counter shifts (`aging`).
    pub period: u64,
    /// Whether page-table pages count against `frames` (they are never evicted).
    pub count_tables: bool,
    /// Watched variables.
    pub watch: Vec<Watch>,
    /// The machine's physical memory in bytes (`--ram`): frames come from a buddy allocator of
    /// this size. `None`: frames are handed out in order from the machine's whole memory, as
    /// before, unless a setting below or a THP policy needs the allocator ([`DEFAULT_RAM`], or
    /// with `frames` twice the data budget rounded up to a power of two).
    pub ram: Option<u64>,
    /// Fraction of the 2 MiB blocks that other tenants' pinned pages break before the trace
    /// starts, in millionths (`--fragmentation`, 0 to 1).
    pub fragmentation: Option<u32>,
    /// Free 2 MiB blocks left before the trace starts (`--free-huge`): the others are broken.
    pub free_huge: Option<u64>,
    /// Other tenants' page allocations and frees per fault, in millionths (`--churn`).
    pub churn: Option<u64>,
    /// Present base pages of a 2 MiB region at which khugepaged promotes it (`--thp-min`,
    /// `--huge defer`); Linux's default (max_ptes_none 511) is 1.
    pub thp_min: u32,
    /// Whether a failed 2 MiB allocation migrates movable pages to make a block (`--compaction`).
    pub compaction: bool,
    /// Cores, each with its own TLBs, page-walk caches and private caches (`--cores`, 1 to
    /// [`MAX_CORES`]).
    pub cores: u16,
    /// Trace records between round-robin rotations of threads over cores (`--quantum`; 0: threads
    /// stay where the trace or their first appearance put them).
    pub quantum: u64,
    /// Which cores a shootdown interrupts (`--shootdown`).
    pub shootdown: Shootdown,
    /// Cycles per shootdown interrupt, with the cycles model (`--ipi-cycles`).
    pub ipi_cycles: u32,
    /// Cycles per page invalidated on another core, with the cycles model (`--invlpg-cycles`).
    pub invlpg_cycles: u32,
}

/// The most cores a run may simulate.
pub const MAX_CORES: u16 = 64;

/// Default cycles of one shootdown interrupt: about 1 µs at 3 GHz, the order of an IPI's round
/// trip on current x86 servers (an estimate: set `ipi_cycles` to your machine's).
pub const DEFAULT_IPI_CYCLES: u32 = 3000;

/// Default cycles of invalidating one page on another core (INVLPG in the interrupt handler;
/// an estimate, like [`DEFAULT_IPI_CYCLES`]).
pub const DEFAULT_INVLPG_CYCLES: u32 = 250;

/// Which cores a change that removes or narrows a translation interrupts.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Shootdown {
    /// The other cores that ran the address space since their TLBs last dropped it (Linux's
    /// `mm_cpumask`).
    #[default]
    Precise,
    /// Every other core.
    Broadcast,
}

impl Shootdown {
    /// `precise` or `broadcast`.
    pub fn name(self) -> &'static str {
        match self {
            Shootdown::Precise => "precise",
            Shootdown::Broadcast => "broadcast",
        }
    }
}

impl fmt::Display for Shootdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Shootdown {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Shootdown, ConfigError> {
        match s {
            "precise" => Ok(Shootdown::Precise),
            "broadcast" => Ok(Shootdown::Broadcast),
            _ => Err(ConfigError(format!(
                "shootdown `{s}`: precise (the cores that ran the address space) or broadcast"
            ))),
        }
    }
}

/// The physical memory a buddy allocator gets when a setting needs one and `ram` is not given:
/// 16 GiB.
pub const DEFAULT_RAM: u64 = 16 << 30;

/// `bytes` as `--ram` writes it: `16G`, `512M`, `64K` or plain bytes.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A size with an optional `k`, `m`, `g` or `t` suffix (KiB, MiB, GiB, TiB; `KiB`, `KB`, `K`
/// all mean 1024) or a power (`2^30`): [`ptbench_core::parse_count`]'s sizes, as every size flag
/// reads them.
pub fn parse_size(s: &str) -> Result<u64, ConfigError> {
    ptbench_core::parse_count(s, true).map_err(|_| {
        ConfigError(format!(
            "`{s}` is not a size (e.g. 16G, 512MiB, 2^30, 4096)"
        ))
    })
}

/// A fraction 0 to 1 as millionths.
fn parse_fraction(k: &str, v: &str, max: f64) -> Result<u64, ConfigError> {
    let f: f64 = v
        .parse()
        .map_err(|_| ConfigError(format!("{k}={v}: not a number")))?;
    if !(0.0..=max).contains(&f) {
        return Err(ConfigError(format!("{k}={v}: must be between 0 and {max}")));
    }
    Ok((f * 1e6).round() as u64)
}

/// Millionths as a decimal (`0.5`, `1`).
fn millionths(n: u64) -> String {
    format!("{}", n as f64 / 1e6)
}

impl Default for OsConfig {
    fn default() -> OsConfig {
        OsConfig {
            frames: None,
            policy: Policy::Lru,
            first_touch: FirstTouch::Zero,
            on_violation: OnViolation::Continue,
            seed: 1,
            period: 1000,
            count_tables: false,
            watch: Vec::new(),
            ram: None,
            fragmentation: None,
            free_huge: None,
            churn: None,
            thp_min: 1,
            compaction: false,
            cores: 1,
            quantum: 0,
            shootdown: Shootdown::Precise,
            ipi_cycles: DEFAULT_IPI_CYCLES,
            invlpg_cycles: DEFAULT_INVLPG_CYCLES,
        }
    }
}

impl OsConfig {
    /// `frames` as a number for results: 0 when unlimited.
    pub fn frames_or_zero(&self) -> u64 {
        self.frames.unwrap_or(0)
    }

    /// Whether a physical-memory setting asks for the buddy allocator (`ram`, fragmentation,
    /// free_huge, churn, compaction).
    pub fn wants_buddy(&self) -> bool {
        self.ram.is_some()
            || self.fragmentation.is_some()
            || self.free_huge.is_some()
            || self.churn.is_some()
            || self.compaction
    }

    /// The fragmentation setting as a fraction (0 without one).
    pub fn fragmentation_fraction(&self) -> f64 {
        self.fragmentation.map_or(0.0, |p| f64::from(p) / 1e6)
    }
}

/// The canonical form: `frames=N|unlimited,policy=P,first_touch=T`, then the settings that differ
/// from their defaults (`on_violation`, `seed`, `period`, `count_tables`, one `watch` each).
impl fmt::Display for OsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = OsConfig::default();
        match self.frames {
            Some(n) => write!(f, "frames={n}")?,
            None => f.write_str("frames=unlimited")?,
        }
        write!(
            f,
            ",policy={},first_touch={}",
            self.policy,
            self.first_touch.name()
        )?;
        if self.on_violation != d.on_violation {
            write!(f, ",on_violation={}", self.on_violation.name())?;
        }
        if self.seed != d.seed {
            write!(f, ",seed={}", self.seed)?;
        }
        if self.period != d.period {
            write!(f, ",period={}", self.period)?;
        }
        if self.count_tables {
            f.write_str(",count_tables=true")?;
        }
        for w in &self.watch {
            write!(f, ",watch={w}")?;
        }
        if let Some(r) = self.ram {
            write!(f, ",ram={}", format_size(r))?;
        }
        if let Some(p) = self.fragmentation {
            write!(f, ",fragmentation={}", millionths(u64::from(p)))?;
        }
        if let Some(n) = self.free_huge {
            write!(f, ",free_huge={n}")?;
        }
        if let Some(c) = self.churn {
            write!(f, ",churn={}", millionths(c))?;
        }
        if self.thp_min != d.thp_min {
            write!(f, ",thp_min={}", self.thp_min)?;
        }
        if self.compaction {
            f.write_str(",compaction=on")?;
        }
        if self.cores != d.cores {
            write!(f, ",cores={}", self.cores)?;
        }
        if self.quantum != d.quantum {
            write!(f, ",quantum={}", self.quantum)?;
        }
        if self.shootdown != d.shootdown {
            write!(f, ",shootdown={}", self.shootdown)?;
        }
        if self.ipi_cycles != d.ipi_cycles {
            write!(f, ",ipi_cycles={}", self.ipi_cycles)?;
        }
        if self.invlpg_cycles != d.invlpg_cycles {
            write!(f, ",invlpg_cycles={}", self.invlpg_cycles)?;
        }
        Ok(())
    }
}

impl FromStr for OsConfig {
    type Err = ConfigError;
    /// Comma-separated `key=value` pairs, any subset of the canonical form's keys; the empty
    /// string is the default.
    fn from_str(s: &str) -> Result<OsConfig, ConfigError> {
        let mut c = OsConfig::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| ConfigError(format!("`{part}` is not key=value")))?;
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| ConfigError(format!("{k}={v}: not a whole number")))
            };
            match k {
                "frames" if v == "unlimited" => c.frames = None,
                "frames" => c.frames = Some(num(v)?),
                "policy" => c.policy = v.parse()?,
                "first_touch" => c.first_touch = v.parse()?,
                "on_violation" => c.on_violation = v.parse()?,
                "seed" => c.seed = num(v)?,
                "period" => c.period = num(v)?,
                "count_tables" => {
                    c.count_tables = v
                        .parse()
                        .map_err(|_| ConfigError(format!("count_tables={v}: true or false")))?
                }
                "watch" => c.watch.push(v.parse()?),
                "ram" => c.ram = Some(parse_size(v)?),
                "fragmentation" => {
                    c.fragmentation = Some(parse_fraction(k, v, 1.0)? as u32);
                }
                "free_huge" => c.free_huge = Some(num(v)?),
                "churn" => c.churn = Some(parse_fraction(k, v, 1e6)?),
                "thp_min" => {
                    c.thp_min = u32::try_from(num(v)?)
                        .map_err(|_| ConfigError(format!("thp_min={v}: 1 to 512")))?
                }
                "compaction" => {
                    c.compaction = match v {
                        "on" | "true" => true,
                        "off" | "false" => false,
                        _ => return Err(ConfigError(format!("compaction={v}: on or off"))),
                    }
                }
                "cores" => {
                    c.cores = u16::try_from(num(v)?)
                        .map_err(|_| ConfigError(format!("cores={v}: 1 to {MAX_CORES}")))?
                }
                "quantum" => c.quantum = num(v)?,
                "shootdown" => c.shootdown = v.parse()?,
                "ipi_cycles" => {
                    c.ipi_cycles = u32::try_from(num(v)?)
                        .map_err(|_| ConfigError(format!("ipi_cycles={v}: too large")))?
                }
                "invlpg_cycles" => {
                    c.invlpg_cycles = u32::try_from(num(v)?)
                        .map_err(|_| ConfigError(format!("invlpg_cycles={v}: too large")))?
                }
                _ => {
                    return Err(ConfigError(format!(
                        "unknown OS setting `{k}`; known: frames, policy, first_touch, \
                         on_violation, seed, period, count_tables, watch, ram, fragmentation, \
                         free_huge, churn, thp_min, compaction, cores, quantum, shootdown, \
                         ipi_cycles, invlpg_cycles"
                    )))
                }
            }
        }
        c.validate()?;
        Ok(c)
    }
}

impl OsConfig {
    /// Checks the settings, saying what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.frames == Some(0) {
            return Err(ConfigError("frames must be at least 1".into()));
        }
        if self.period == 0 {
            return Err(ConfigError("period must be at least 1".into()));
        }
        if self.fragmentation.is_some() && self.free_huge.is_some() {
            return Err(ConfigError(
                "fragmentation and free_huge both set how many 2 MiB blocks are broken: give one"
                    .into(),
            ));
        }
        if !(1..=512).contains(&self.thp_min) {
            return Err(ConfigError(format!(
                "thp_min={}: a 2 MiB region has 1 to 512 base pages",
                self.thp_min
            )));
        }
        if !(1..=MAX_CORES).contains(&self.cores) {
            return Err(ConfigError(format!(
                "cores={}: 1 to {MAX_CORES}",
                self.cores
            )));
        }
        if let Some(r) = self.ram {
            if r < 2 << 20 {
                return Err(ConfigError(format!(
                    "ram={}: at least 2 MiB (one huge page)",
                    format_size(r)
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_round_trips() {
        let c = OsConfig {
            frames: Some(64),
            policy: Policy::Clock,
            first_touch: FirstTouch::Disk,
            on_violation: OnViolation::Stop,
            seed: 9,
            period: 50,
            count_tables: true,
            watch: vec![Watch {
                addr: 0x601040,
                len: 8,
            }],
            ..OsConfig::default()
        };
        let s = c.to_string();
        assert_eq!(
            s,
            "frames=64,policy=clock,first_touch=disk,on_violation=stop,seed=9,period=50,\
             count_tables=true,watch=0x601040:8"
        );
        assert_eq!(s.parse::<OsConfig>().unwrap(), c);
        assert_eq!(
            OsConfig::default().to_string(),
            "frames=unlimited,policy=lru,first_touch=zero"
        );
        assert_eq!("".parse::<OsConfig>().unwrap(), OsConfig::default());
        assert!("frames=0".parse::<OsConfig>().is_err());
        assert!("policy=mru".parse::<OsConfig>().is_err());
        assert!("colour=red".parse::<OsConfig>().is_err());
        let m: OsConfig = "ram=4g,fragmentation=0.25,churn=0.5,thp_min=64,compaction=on"
            .parse()
            .unwrap();
        assert_eq!(
            (m.ram, m.fragmentation, m.churn, m.thp_min, m.compaction),
            (Some(4 << 30), Some(250_000), Some(500_000), 64, true)
        );
        assert_eq!(
            m.to_string(),
            "frames=unlimited,policy=lru,first_touch=zero,ram=4G,fragmentation=0.25,\
             churn=0.5,thp_min=64,compaction=on"
        );
        assert_eq!(m.to_string().parse::<OsConfig>().unwrap(), m);
        assert!(m.wants_buddy() && !OsConfig::default().wants_buddy());
        assert!("fragmentation=1.5".parse::<OsConfig>().is_err());
        assert!("fragmentation=0.5,free_huge=3".parse::<OsConfig>().is_err());
        assert!("thp_min=0".parse::<OsConfig>().is_err());
        assert!("thp_min=513".parse::<OsConfig>().is_err());
        assert!("ram=1M".parse::<OsConfig>().is_err());
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("16 G"), Ok(16 << 30));
        assert_eq!(parse_size("2^30"), Ok(1 << 30));
        assert!(parse_size("4 apples").is_err() && parse_size("2^70").is_err());
        assert_eq!(format_size(3 << 29), "1536M");
        for (n, p) in Policy::ALL {
            assert_eq!(n.parse::<Policy>().unwrap(), p);
        }
    }
}
