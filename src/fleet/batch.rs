//! Batch plans. `-b 10` or `-b 25%` is Salt's sliding window: at most that
//! many hosts at once. `-b 1,10%,50%,100%` is a staged rollout: stage sizes
//! run one after another, each only once the previous stage has finished,
//! the last size repeating until every host has run.

use std::str::FromStr;

/// A batch size: a host count or a share of the targeted hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Batch {
    Count(usize),
    Percent(u32),
}

impl Batch {
    /// The window for `total` targeted hosts: at least 1, at most `total`.
    pub fn size(self, total: usize) -> usize {
        let n = match self {
            Batch::Count(n) => n,
            Batch::Percent(p) => (total * p as usize).div_ceil(100),
        };
        n.clamp(1, total.max(1))
    }
}

impl FromStr for Batch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "invalid batch size `{s}`: expected a number of hosts (10) or a percentage (25%)"
            )
        };
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            match p.trim().parse::<u32>() {
                Ok(p) if (1..=100).contains(&p) => Ok(Batch::Percent(p)),
                _ => Err(bad()),
            }
        } else {
            match s.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(Batch::Count(n)),
                _ => Err(bad()),
            }
        }
    }
}

impl std::fmt::Display for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Batch::Count(n) => write!(f, "{n}"),
            Batch::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// How `-b` spreads hosts over time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchPlan {
    /// A sliding window of at most this many hosts.
    Window(Batch),
    /// Stages of these sizes, one after another; the last size repeats.
    Stages(Vec<Batch>),
}

impl BatchPlan {
    /// For a staged plan: the number of hosts in each stage, for `total` hosts.
    pub fn stage_sizes(&self, total: usize) -> Vec<usize> {
        let BatchPlan::Stages(sizes) = self else {
            return vec![total];
        };
        let mut out = Vec::new();
        let mut done = 0;
        let mut i = 0;
        while done < total {
            let spec = sizes[i.min(sizes.len() - 1)];
            let n = spec.size(total).min(total - done);
            out.push(n);
            done += n;
            i += 1;
        }
        out
    }

    pub fn is_staged(&self) -> bool {
        matches!(self, BatchPlan::Stages(_))
    }
}

impl FromStr for BatchPlan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(',') {
            let sizes = s
                .split(',')
                .map(|p| p.parse::<Batch>())
                .collect::<Result<Vec<_>, _>>()?;
            Ok(BatchPlan::Stages(sizes))
        } else {
            s.parse().map(BatchPlan::Window)
        }
    }
}

impl std::fmt::Display for BatchPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchPlan::Window(b) => write!(f, "{b}"),
            BatchPlan::Stages(sizes) => {
                let parts: Vec<String> = sizes.iter().map(Batch::to_string).collect();
                write!(f, "{}", parts.join(","))
            }
        }
    }
}

/// `--max-fail N` or `N%`: failures tolerated before no new host starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxFail {
    Count(usize),
    Percent(u32),
}

impl MaxFail {
    /// Failures tolerated out of `total` hosts (a share rounds down).
    pub fn tolerated(self, total: usize) -> usize {
        match self {
            MaxFail::Count(n) => n,
            MaxFail::Percent(p) => total * p as usize / 100,
        }
    }
}

impl std::fmt::Display for MaxFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxFail::Count(n) => write!(f, "{n}"),
            MaxFail::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for MaxFail {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "invalid --max-fail `{s}`: expected a number of hosts (2) or a percentage (10%)"
            )
        };
        match s.trim().strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= 100)
                .map(MaxFail::Percent)
                .ok_or_else(bad),
            None => s
                .trim()
                .parse::<usize>()
                .map(MaxFail::Count)
                .map_err(|_| bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_plans_repeat_the_last_size() {
        let p: BatchPlan = "1,10%,50%,100%".parse().unwrap();
        assert!(p.is_staged());
        assert_eq!(p.stage_sizes(20), vec![1, 2, 10, 7]);
        assert_eq!(p.stage_sizes(1), vec![1]);
        let p: BatchPlan = "1,2".parse().unwrap();
        assert_eq!(p.stage_sizes(7), vec![1, 2, 2, 2]);
        assert_eq!(p.to_string(), "1,2");
        let p: BatchPlan = "25%".parse().unwrap();
        assert_eq!(p, BatchPlan::Window(Batch::Percent(25)));
        assert!("1,,2".parse::<BatchPlan>().is_err());
        assert!("1,0".parse::<BatchPlan>().is_err());
    }

    #[test]
    fn max_fail_rounds_down() {
        assert_eq!("10%".parse::<MaxFail>().unwrap().tolerated(10), 1);
        assert_eq!("10%".parse::<MaxFail>().unwrap().tolerated(9), 0);
        assert_eq!("2".parse::<MaxFail>().unwrap().tolerated(9), 2);
        assert!("x".parse::<MaxFail>().is_err());
        assert!("101%".parse::<MaxFail>().is_err());
    }

    #[test]
    fn sizes_round_up_and_stay_in_range() {
        assert_eq!("10".parse::<Batch>().unwrap().size(50), 10);
        assert_eq!("10".parse::<Batch>().unwrap().size(3), 3);
        assert_eq!("25%".parse::<Batch>().unwrap().size(10), 3);
        assert_eq!("1%".parse::<Batch>().unwrap().size(10), 1);
        assert_eq!("100%".parse::<Batch>().unwrap().size(7), 7);
        for bad in ["0", "0%", "101%", "-1", "x", "", "5%%"] {
            assert!(bad.parse::<Batch>().is_err(), "{bad}");
        }
    }
}
