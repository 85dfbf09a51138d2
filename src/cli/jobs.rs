//! `halite jobs list|show`: read the job cache back.

use super::{usage_error, Common, JobsAction, EXIT_OK};
use crate::config::Settings;
use crate::jobs::JobCache;
use crate::output;

pub fn exec(action: &JobsAction, common: &Common) -> u8 {
    match try_exec(action, common) {
        Ok(code) => code,
        Err(e) => usage_error(&e),
    }
}

fn try_exec(action: &JobsAction, common: &Common) -> anyhow::Result<u8> {
    let settings = Settings::load(common.config.as_deref())?;
    let cache = JobCache::new(&settings.cache_dir);
    match action {
        JobsAction::List => output::list_jobs(&cache.list()?, common.out),
        JobsAction::Show { jid } => output::show_job(
            &cache.load(jid)?,
            common.out,
            output::Style::detect(common.no_color),
        ),
    }
    Ok(EXIT_OK)
}
