//! How a function runs on each host, decided once per run from what the
//! function says of itself: on the controller alone, by the state engine,
//! from the host's pillar, or as one script. The fleet's host task matches
//! this one enum instead of asking the function's flags again (mini-redis's
//! "one enum, one match"); a template's remote call (`salt['cmd.run']`)
//! can take only [`Call::Script`].

use std::sync::Arc;

use super::mine::MineCall;
use super::Function;
use crate::engine::StateCall;
use crate::Value;

/// How one function call reaches a host.
#[derive(Debug, Clone)]
pub enum Call {
    /// Needs no connection (`sys.doc`): answered on the controller.
    ControllerOnly(Arc<dyn Function>),
    /// Run by the state engine (`state.apply`, `state.show_sls`...).
    State(StateCall),
    /// Answered from the host's pillar, compiled on the controller from
    /// the host's own grains (`pillar.*`); `overrides` is a `pillar='{...}'`
    /// argument, merged over it.
    Pillar {
        function: Arc<dyn Function>,
        overrides: Option<Value>,
    },
    /// The mine (`mine.update` on the host, `mine.get`, `mine.delete`,
    /// `mine.flush` on the controller's store alone).
    Mine(MineCall),
    /// One script on the host, its output interpreted (`cmd.run`...).
    Script(Arc<dyn Function>),
}

impl Call {
    /// Decide how `function` runs: the one place its mode flags are read.
    pub fn of(function: Arc<dyn Function>) -> Call {
        if function.controller_only() {
            return Call::ControllerOnly(function);
        }
        if let Some(mine) = function.mine_call() {
            return Call::Mine(mine.clone());
        }
        if let Some(state) = function.state_call() {
            return Call::State(state.clone());
        }
        if function.needs_pillar() {
            let overrides = function.pillar_override().cloned();
            return Call::Pillar {
                function,
                overrides,
            };
        }
        Call::Script(function)
    }

    /// Whether the host's grains must be known before it runs.
    pub fn needs_grains(&self) -> bool {
        match self {
            Call::ControllerOnly(_) => false,
            Call::State(_) | Call::Pillar { .. } => true,
            Call::Mine(m) => m.on_host(),
            Call::Script(f) => f.needs_grains(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::{parse_call, Args};

    fn call(words: &[&str]) -> Call {
        let (name, args) = words.split_first().unwrap();
        Call::of(Arc::from(
            parse_call(name, &Args::from_words(args)).unwrap(),
        ))
    }

    #[test]
    fn each_kind_of_function_gets_its_call() {
        assert!(matches!(call(&["sys.doc"]), Call::ControllerOnly(_)));
        assert!(matches!(call(&["state.apply"]), Call::State(_)));
        assert!(matches!(call(&["state.show_sls", "web"]), Call::State(_)));
        assert!(matches!(
            call(&["pillar.items", "pillar={role: db}"]),
            Call::Pillar {
                overrides: Some(_),
                ..
            }
        ));
        assert!(matches!(
            call(&["pillar.get", "role"]),
            Call::Pillar {
                overrides: None,
                ..
            }
        ));
        assert!(matches!(call(&["cmd.run", "true"]), Call::Script(_)));
        assert!(matches!(call(&["mine.update"]), Call::Mine(_)));
        assert!(matches!(call(&["mine.get", "*", "f"]), Call::Mine(_)));
    }

    #[test]
    fn grains_are_needed_where_the_host_is_read() {
        assert!(!call(&["sys.doc"]).needs_grains());
        assert!(!call(&["test.ping"]).needs_grains());
        assert!(call(&["grains.items"]).needs_grains());
        assert!(call(&["state.apply"]).needs_grains());
        assert!(call(&["pillar.items"]).needs_grains());
        assert!(call(&["mine.update"]).needs_grains());
        assert!(!call(&["mine.get", "*", "f"]).needs_grains());
    }
}
