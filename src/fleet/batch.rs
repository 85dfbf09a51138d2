//! Batch sizes (`-b 10` or `-b 25%`): how many hosts may run at once.

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

#[cfg(test)]
mod tests {
    use super::*;

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
