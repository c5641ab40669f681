//! Man pages and shell completions for Hygie's Debian packages, generated from a program's
//! clap command line so that they never drift from `--help`.
//!
//! Each daemon's `main` first asks [`requested`] whether it was started as
//! `PROGRAM __write-manuals DIR`, and if so calls [`main`] instead of parsing its command line:
//! `packaging/build-debs.sh` runs this on the release binary it packages, so nothing is
//! downloaded and the pages describe exactly the binary shipped. The request is seen before
//! clap, so it appears in no `--help`, page or completion (clap_complete would list a hidden
//! subcommand).
//!
//! Layout written under `DIR`: `man/NAME.1` and one page per visible subcommand
//! (`man/NAME-SUB.1`, `man/NAME-SUB-SUBSUB.1`), `completions/NAME.bash`, `completions/_NAME`
//! (zsh) and `completions/NAME.fish`. build-debs.sh gzips the pages before cargo-deb packs them.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap_complete::Shell;

/// The shells completions are written for (the ones Debian ships completion directories for).
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The first argument that asks a program for its manuals instead of its usual work.
pub const TRIGGER: &str = "__write-manuals";

/// The directory to write into, when the program's arguments (`std::env::args_os()`, program
/// name first) are exactly `PROGRAM __write-manuals DIR`.
pub fn requested(args: impl IntoIterator<Item = OsString>) -> Option<PathBuf> {
    let mut args = args.into_iter().skip(1);
    let (Some(trigger), Some(dir), None) = (args.next(), args.next(), args.next()) else {
        return None;
    };
    (trigger == TRIGGER).then(|| PathBuf::from(dir))
}

/// Writes the manuals as [`write`] does and reports on standard error: what a program's `main`
/// returns when [`requested`] said so.
pub fn main(command: clap::Command, version: &str, dir: &Path) -> ExitCode {
    let name = command.get_name().to_owned();
    match write(command, version, dir) {
        Ok(written) => {
            eprintln!(
                "{name}: wrote {} man pages and {} completion scripts under {}",
                written.pages.len(),
                written.completions.len(),
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{name}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What could not be written, with the file involved.
#[derive(Debug, thiserror::Error)]
pub enum ManualsError {
    /// A directory or file could not be created or written.
    #[error("cannot write {path}: check that the directory is writable")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The files written, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Written {
    /// Man pages (section 1), the program's first.
    pub pages: Vec<PathBuf>,
    /// Completion scripts, one per shell of [`SHELLS`].
    pub completions: Vec<PathBuf>,
}

/// Writes the man pages and completions of `command` (the program's whole clap command, as
/// `Cli::command()` returns it) under `dir`, creating the directories. `version` appears in
/// the pages' footer.
pub fn write(command: clap::Command, version: &str, dir: &Path) -> Result<Written, ManualsError> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    for path in [&man, &completions] {
        fs::create_dir_all(path).map_err(|source| ManualsError::Write {
            path: path.clone(),
            source,
        })?;
    }
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut written = Written::default();
    let source = format!("Hygie {version}");
    write_pages(&command, &source, &man, &mut written.pages)?;
    let name = command.get_name().to_owned();
    for shell in SHELLS {
        let path = clap_complete::generate_to(shell, &mut command, &name, &completions).map_err(
            |source| ManualsError::Write {
                path: completions.join(clap_complete::Generator::file_name(&shell, &name)),
                source,
            },
        )?;
        written.completions.push(path);
    }
    Ok(written)
}

/// The page of `command`, then those of its visible subcommands, depth first.
fn write_pages(
    command: &clap::Command,
    source: &str,
    dir: &Path,
    pages: &mut Vec<PathBuf>,
) -> Result<(), ManualsError> {
    let man = clap_mangen::Man::new(command.clone())
        .source(source)
        .manual("Hygie Manual");
    let path = dir.join(man.get_filename());
    let mut text = Vec::new();
    man.render(&mut text)
        .and_then(|()| fs::File::create(&path)?.write_all(&text))
        .map_err(|source| ManualsError::Write {
            path: path.clone(),
            source,
        })?;
    pages.push(path);
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_pages(sub, source, dir, pages)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> clap::Command {
        clap::Command::new("hygie-sample")
            .about("A sample program.")
            .arg(clap::Arg::new("config").long("config").short('c'))
            .subcommand(
                clap::Command::new("ca")
                    .about("Certificates.")
                    .subcommand(clap::Command::new("init").about("Create the CA.")),
            )
            .subcommand(clap::Command::new("internal").about("Hidden.").hide(true))
    }

    #[test]
    fn writes_a_page_per_visible_command_and_a_completion_per_shell() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(sample(), "1.2.3", dir.path()).unwrap();
        let names: Vec<String> = written
            .pages
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "hygie-sample.1",
                "hygie-sample-ca.1",
                "hygie-sample-ca-init.1"
            ]
        );
        let page = fs::read_to_string(&written.pages[0]).unwrap();
        assert!(page.contains("Hygie 1.2.3"), "{page}");
        assert!(page.contains("A sample program."), "{page}");
        assert!(
            !page.contains("Hidden."),
            "hidden subcommands stay out: {page}"
        );
        let completions: Vec<String> = written
            .completions
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            completions,
            ["hygie-sample.bash", "_hygie-sample", "hygie-sample.fish"]
        );
        let bash = fs::read_to_string(&written.completions[0]).unwrap();
        assert!(bash.contains("--config"), "{bash}");
    }

    #[test]
    fn only_the_exact_request_is_taken() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            requested(args(&["hygie-agent", TRIGGER, "out"])),
            Some(PathBuf::from("out"))
        );
        assert_eq!(requested(args(&["hygie-agent", TRIGGER])), None);
        assert_eq!(
            requested(args(&["hygie-agent", TRIGGER, "out", "more"])),
            None
        );
        assert_eq!(requested(args(&["hygie-agent", "run", "out"])), None);
        assert_eq!(requested(args(&["hygie-agent"])), None);
    }

    #[test]
    fn an_unwritable_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-directory");
        fs::write(&file, "").unwrap();
        let error = write(sample(), "1", &file).unwrap_err();
        assert!(error.to_string().contains("not-a-directory"), "{error}");
    }
}
