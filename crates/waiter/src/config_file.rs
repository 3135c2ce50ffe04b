//! `--config FILE`: a TOML file with the same keys as `waiter serve`'s long flags.
//!
//! Keys are the flag names with `_` for `-` (`cache_control = "public"`,
//! `workers = 2`, `follow_symlinks = true`, `root = "/srv/www"`). The file is
//! turned into flag tokens placed before the command line's own, for the
//! flags the command line did not give, and the whole is parsed again by
//! clap: one parser and one set of checks for both sources, and the command
//! line always wins.

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches};

use crate::cli;

/// Keys that are not settings: the file cannot name itself, nor ask for help.
const NOT_KEYS: [&str; 2] = ["config", "help"];

/// Parses the command line `args` (program name first), merged with the
/// `--config` file when one is named.
///
/// Exits the process as clap does (status 2, or 0 for `--help`) for a command
/// line that does not parse.
///
/// # Errors
///
/// A message for a config file that cannot be read or parsed, an unknown key
/// (named), or a value of the wrong type; `main` exits with status 2, as clap
/// does for bad flags.
pub fn matches(args: Vec<OsString>) -> Result<ArgMatches, String> {
    let first = cli::command().try_get_matches_from(&args).unwrap_or_else(|e| e.exit());
    let Some(("serve", m)) = first.subcommand() else { return Ok(first) };
    let Some(path) = m.get_one::<String>("config") else { return Ok(first) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("--config {path}: {e}"))?;
    let tokens = file_tokens(&text, m).map_err(|e| format!("--config {path}: {e}"))?;
    let at = args.iter().position(|a| a == "serve").ok_or("--config needs the serve command")?;
    let mut merged: Vec<OsString> = args[..=at].to_vec();
    merged.extend(tokens.into_iter().map(OsString::from));
    merged.extend_from_slice(&args[at + 1..]);
    Ok(cli::command().try_get_matches_from(merged).unwrap_or_else(|e| e.exit()))
}

/// The flag tokens for the settings in `text` that `given` (the command
/// line's matches) did not set.
fn file_tokens(text: &str, given: &ArgMatches) -> Result<Vec<String>, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("{e}"))?;
    let command = cli::command();
    let serve = command.find_subcommand("serve").ok_or("no serve command")?;
    let mut tokens = Vec::new();
    for (key, value) in &table {
        let id = key.replace('_', "-");
        let arg = serve
            .get_arguments()
            .find(|a| a.get_id().as_str() == id && !NOT_KEYS.contains(&id.as_str()))
            .ok_or_else(|| format!("unknown key `{key}`"))?;
        if given.value_source(&id) == Some(ValueSource::CommandLine) {
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(on) if matches!(arg.get_action(), ArgAction::SetTrue) => {
                if *on {
                    tokens.push(format!("--{id}"));
                }
                continue;
            }
            other => return Err(format!("`{key}`: expected a {}, found {other}", kind(arg.get_action()))),
        };
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            return Err(format!("`{key}`: expected true or false, found {value}"));
        }
        if arg.is_positional() {
            tokens.push(text);
        } else {
            // `--key=value`, so that a value starting with '-' stays a value.
            tokens.push(format!("--{id}={text}"));
        }
    }
    Ok(tokens)
}

fn kind(action: &ArgAction) -> &'static str {
    match action {
        ArgAction::SetTrue => "boolean",
        _ => "string or integer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(file: &str, cli: &[&str]) -> Result<Vec<String>, String> {
        let m = cli::command().try_get_matches_from(["waiter", "serve"].iter().chain(cli)).unwrap();
        file_tokens(file, m.subcommand_matches("serve").unwrap())
    }

    #[test]
    fn keys_become_flags() {
        let got = tokens(
            "workers = 2\ncache_control = \"public\"\nfollow_symlinks = true\nautoindex = false\n",
            &[],
        );
        let mut got = got.unwrap();
        got.sort();
        assert_eq!(got, ["--cache-control=public", "--follow-symlinks", "--workers=2"]);
    }

    #[test]
    fn command_line_wins() {
        assert_eq!(tokens("workers = 2\n", &["--workers", "3"]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn unknown_and_mistyped_keys() {
        assert_eq!(tokens("wokers = 2\n", &[]).unwrap_err(), "unknown key `wokers`");
        assert_eq!(tokens("config = \"x\"\n", &[]).unwrap_err(), "unknown key `config`");
        assert!(tokens("follow_symlinks = \"yes\"\n", &[]).unwrap_err().contains("follow_symlinks"));
    }
}
