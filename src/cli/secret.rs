//! `halite secret encrypt`: reads a value (stdin, or a no-echo prompt on a
//! terminal), encrypts it with gpg or age for the recipients the flags or
//! halite.yaml name, and prints what to paste into a pillar file. The work
//! is in [`crate::secrets::encrypt`].

use std::io::{IsTerminal, Read};

use anyhow::Context;

use super::{usage_error, Common, SecretAction, EXIT_OK};
use crate::config::Settings;
use crate::output;
use crate::secrets::encrypt::{as_yaml, choose, encrypt, Request};

pub fn exec(action: &SecretAction, common: &Common) -> u8 {
    match try_exec(action, common) {
        Ok(code) => code,
        Err(e) => usage_error(&e),
    }
}

fn try_exec(action: &SecretAction, common: &Common) -> anyhow::Result<u8> {
    let SecretAction::Encrypt(args) = action;
    let settings = Settings::load(common.config.as_deref())?;
    let request = Request {
        gpg_recipients: args.gpg_recipient.clone(),
        age_recipients: args.age_recipient.clone(),
        gpg: args.gpg,
        age: args.age,
    };
    let (cipher, recipients) =
        choose(&request, &settings.gpg_recipients, &settings.age_recipients)?;
    let plaintext = if std::io::stdin().is_terminal() {
        output::read_secret("Value to encrypt (not echoed): ")
            .context("cannot read the value from the terminal")?
            .into_bytes()
    } else {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read the value from stdin")?;
        buf
    };
    let armored = encrypt(cipher, &recipients, &settings.keys, &plaintext)?;
    let text = match &args.key {
        Some(key) => as_yaml(key, &armored)?,
        None => armored,
    };
    output::encrypted_value(&text, cipher.name());
    Ok(EXIT_OK)
}
