//! `rename-command`: commands renamed or disabled at startup, applied to each request before
//! anything else looks at its name, as if the command table itself had been changed.
use bytes::Bytes;
use resp_codec::Request;

/// The renames in effect; empty (the usual case) costs one branch per command.
#[derive(Debug, Default)]
pub(crate) struct Renames {
    /// Name a client types (lowercase) → the command it runs, or `None` if that name is gone.
    entries: Vec<(Vec<u8>, Option<Bytes>)>,
}

/// What a request's name means after renames.
pub(crate) enum Renamed {
    /// Run the request as it is or with the command's real name.
    Run(Request),
    /// The name was renamed away or disabled: the client gets Redis's unknown command error.
    Unknown(Request),
}

impl Renames {
    /// From `rename-command OLD NEW` pairs in order; an empty `NEW` disables `OLD`.
    pub(crate) fn new(pairs: &[(String, String)]) -> Renames {
        let mut entries: Vec<(Vec<u8>, Option<Bytes>)> = Vec::new();
        let mut set = |name: &str, target: Option<Bytes>| {
            let name = name.to_ascii_lowercase().into_bytes();
            match entries.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 = target,
                None => entries.push((name, target)),
            }
        };
        for (old, new) in pairs {
            let real = Bytes::from(old.to_ascii_lowercase());
            set(old, None);
            if !new.is_empty() {
                set(new, Some(real));
            }
        }
        Renames { entries }
    }

    /// The command a client-typed `name` runs: its real name, or `None` if that name was
    /// renamed away or disabled.
    pub(crate) fn resolve<'a>(&'a self, name: &'a [u8]) -> Option<&'a [u8]> {
        match self
            .entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            None => Some(name),
            Some((_, target)) => target.as_deref(),
        }
    }

    /// Whether the command `real` can still be run under some name (Redis drops a disabled
    /// command from `COMMAND`, `COMMAND LIST` and `COMMAND COUNT`; a renamed one stays, under
    /// its real name).
    pub(crate) fn reachable(&self, real: &str) -> bool {
        self.entries.is_empty()
            || self
                .entries
                .iter()
                .any(|(_, t)| t.as_deref() == Some(real.as_bytes()))
            || !self.entries.iter().any(|(n, _)| n == real.as_bytes())
    }

    /// Whether no command is renamed or disabled.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Applies the renames to `req`.
    pub(crate) fn apply(&self, req: Request) -> Renamed {
        if self.entries.is_empty() {
            return Renamed::Run(req);
        }
        let found = self
            .entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(req.name()));
        match found {
            None => Renamed::Run(req),
            Some((_, None)) => Renamed::Unknown(req),
            Some((_, Some(real))) => {
                let mut args = req.into_args();
                args[0] = real.clone();
                Renamed::Run(Request::new(args))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(args: &[&str]) -> Request {
        Request::new(
            args.iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
        )
    }

    fn name(r: Renamed) -> Result<String, String> {
        match r {
            Renamed::Run(r) => Ok(String::from_utf8_lossy(r.name()).into_owned()),
            Renamed::Unknown(r) => Err(String::from_utf8_lossy(r.name()).into_owned()),
        }
    }

    #[test]
    fn renames_and_disables() {
        let r = Renames::new(&[
            ("FLUSHALL".into(), String::new()),
            ("CONFIG".into(), "XYZ".into()),
        ]);
        assert_eq!(name(r.apply(req(&["flushall"]))), Err("flushall".into()));
        assert_eq!(name(r.apply(req(&["config", "get"]))), Err("config".into()));
        assert_eq!(
            name(r.apply(req(&["xyz", "get", "x"]))),
            Ok("config".into())
        );
        assert_eq!(name(r.apply(req(&["GET", "k"]))), Ok("GET".into()));
        // Swapping two names works as in Redis (the second rename finds the first's target).
        let swap = Renames::new(&[("GET".into(), "FOO".into())]);
        assert_eq!(name(swap.apply(req(&["foo", "k"]))), Ok("get".into()));
        assert_eq!(name(swap.apply(req(&["get", "k"]))), Err("get".into()));
        assert_eq!(swap.resolve(b"FOO"), Some(&b"get"[..]));
        assert_eq!(swap.resolve(b"get"), None);
        assert_eq!(swap.resolve(b"set"), Some(&b"set"[..]));
        assert!(swap.reachable("get") && swap.reachable("set"));
        assert!(!r.reachable("flushall") && r.reachable("config"));
    }
}
