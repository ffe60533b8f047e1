//! `dvx completions <shell>` and `dvx man [<command>]`: shell completion scripts and manual
//! pages, generated from the same clap definitions that parse the command line.

use std::io::Write;

use clap::CommandFactory;

use crate::args::Cli;
use crate::settings::UsageError;

/// Writes the completion script of `shell` for dvx.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "dvx", out);
    Ok(crate::EXIT_OK)
}

/// Writes the manual page (roff) of dvx, or of its subcommand `command` (`dvx-<command>(1)`).
pub fn man(command: Option<String>, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    // Built, a subcommand carries its display name (dvx-checkout, the page's title) and the
    // global flags.
    cmd.build();
    let page = match command {
        None => cmd,
        Some(name) => cmd
            .find_subcommand(&name)
            .ok_or_else(|| UsageError(format!("`{name}` is not a dvx command")))?
            .clone(),
    };
    clap_mangen::Man::new(page).render(out)?;
    Ok(crate::EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>) -> anyhow::Result<i32>) -> String {
        let mut out = Vec::new();
        assert_eq!(f(&mut out).expect("generate"), crate::EXIT_OK);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        use clap::ValueEnum;
        for shell in clap_complete::Shell::value_variants() {
            let script = text(|o| completions(*shell, o));
            for word in ["checkout", "install-hooks", "force"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
    }

    #[test]
    fn man_pages_of_dvx_and_of_one_command() {
        let page = text(|o| man(None, o));
        assert!(
            page.starts_with(".ie") || page.starts_with(".TH"),
            "{page:.80}"
        );
        assert!(page.contains(".TH dvx 1"), "{page:.200}");
        assert!(page.contains("checkout"));
        let page = text(|o| man(Some("checkout".into()), o));
        assert!(page.contains(".TH dvx-checkout 1"), "{page:.200}");
        assert!(page.contains("force"));
        let err = man(Some("nope".into()), &mut Vec::new()).expect_err("unknown");
        assert!(err.downcast_ref::<UsageError>().is_some());
    }
}
