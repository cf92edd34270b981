//! Sessions: [`SessionId`], [`SessionKind`], [`SessionStatus`] and the one [`transition`]
//! function that decides every status move.
//!
//! ```text
//! queued -> starting -> running <-> paused
//! running | paused -> stopping -> stopped
//! queued | starting -> stopping          (a stop requested before the session ran)
//! running -> completed
//! queued | starting | running | paused | stopping -> failed
//! stopped, completed, failed: terminal
//! ```
//!
//! The store applies moves with compare-and-set updates, so this function is the rule and the
//! database is the referee when two writers race.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::{ModelError, Timestamp};

/// A session's identifier: a UUID version 7, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(Uuid);

impl SessionId {
    /// A version-7 id from its creation time (millisecond precision) and 80 random bits. Time
    /// and randomness are inputs so that callers decide where they come from.
    ///
    /// # Errors
    /// [`ModelError::OutOfRange`] for instants before the Unix epoch.
    pub fn from_parts(created: Timestamp, random: [u8; 10]) -> Result<Self, ModelError> {
        let millis = u64::try_from(created.as_nanos().div_euclid(1_000_000)).map_err(|_| {
            ModelError::OutOfRange {
                kind: "session id time",
                value: created.to_string(),
            }
        })?;
        Ok(Self(
            uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid(),
        ))
    }

    /// Parses the hyphenated form and checks that it is version 7.
    ///
    /// # Errors
    /// [`ModelError::Parse`] naming the text.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let uuid = Uuid::try_parse(text)
            .map_err(|e| ModelError::parse("session id", text, e.to_string()))?;
        if uuid.get_version_num() != 7 {
            return Err(ModelError::parse(
                "session id",
                text,
                "not a version-7 UUID",
            ));
        }
        Ok(Self(uuid))
    }

    /// When the id was made (millisecond precision).
    #[must_use]
    pub fn created(&self) -> Timestamp {
        let (secs, nanos) = self.0.get_timestamp().map_or((0, 0), |t| t.to_unix());
        let nanos = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Timestamp::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// The underlying UUID.
    #[must_use]
    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0.hyphenated())
    }
}

impl FromStr for SessionId {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

macro_rules! text_enum {
    ($name:ident, $kind:literal, [$($variant:ident => $text:literal),+ $(,)?]) => {
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored text value.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ModelError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(ModelError::parse(
                        $kind,
                        s,
                        concat!("expected one of:" $(, " ", $text)+),
                    )),
                }
            }
        }
    };
}

/// What a session does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// Replays history, clock driven by the data.
    Backtest,
    /// Trades simulated orders on a live or replayed feed, on a wall clock.
    Paper,
    /// Records what a feed delivers into the bar store.
    Collect,
}

text_enum!(SessionKind, "session kind", [
    Backtest => "backtest",
    Paper => "paper",
    Collect => "collect",
]);

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Created, waiting for a runner.
    Queued,
    /// Claimed by a runner, loading.
    Starting,
    /// Processing.
    Running,
    /// Held at a safe point.
    Paused,
    /// A stop was requested; the runner is flushing.
    Stopping,
    /// Stopped on request after its writer flushed. Terminal.
    Stopped,
    /// Ran to its end and every event is committed. Terminal.
    Completed,
    /// Ended by an error or a dead runner, with the reason. Terminal.
    Failed,
}

text_enum!(SessionStatus, "session status", [
    Queued => "queued",
    Starting => "starting",
    Running => "running",
    Paused => "paused",
    Stopping => "stopping",
    Stopped => "stopped",
    Completed => "completed",
    Failed => "failed",
]);

impl SessionStatus {
    /// True for states no session ever leaves.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Stopped | Self::Completed | Self::Failed)
    }

    /// True for states a runner may still be working in.
    #[must_use]
    pub const fn is_live(self) -> bool {
        !self.is_terminal()
    }
}

/// Checks the move `from -> to` and returns `to` when it is allowed. This is the only place
/// session moves are decided.
///
/// # Errors
/// [`ModelError::InvalidTransition`] naming both states for any move not in the table above,
/// including every move out of a terminal state and every move to the same state.
pub fn transition(from: SessionStatus, to: SessionStatus) -> Result<SessionStatus, ModelError> {
    use SessionStatus::{Completed, Failed, Paused, Queued, Running, Starting, Stopped, Stopping};
    let allowed = matches!(
        (from, to),
        (Queued, Starting | Stopping | Failed)
            | (Starting, Running | Stopping | Failed)
            | (Running, Paused | Stopping | Completed | Failed)
            | (Paused, Running | Stopping | Failed)
            | (Stopping, Stopped | Failed)
    );
    if allowed {
        Ok(to)
    } else {
        Err(ModelError::InvalidTransition {
            what: "session",
            from: from.to_string(),
            to: to.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::SessionStatus::*;
    use super::*;

    fn any_status() -> impl Strategy<Value = SessionStatus> {
        proptest::sample::select(SessionStatus::ALL.to_vec())
    }

    #[rstest]
    #[case(Queued, Starting)]
    #[case(Starting, Running)]
    #[case(Running, Paused)]
    #[case(Paused, Running)]
    #[case(Paused, Stopping)]
    #[case(Running, Stopping)]
    #[case(Stopping, Stopped)]
    #[case(Running, Completed)]
    #[case(Queued, Failed)]
    #[case(Stopping, Failed)]
    fn allows_the_lifecycle(#[case] from: SessionStatus, #[case] to: SessionStatus) {
        assert_eq!(transition(from, to).unwrap(), to);
    }

    #[rstest]
    #[case(Queued, Running)]
    #[case(Paused, Completed)]
    #[case(Stopping, Running)]
    #[case(Stopping, Completed)]
    #[case(Running, Running)]
    #[case(Running, Queued)]
    fn refuses_other_moves(#[case] from: SessionStatus, #[case] to: SessionStatus) {
        let err = transition(from, to).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("session cannot move from {from} to {to}")
        );
    }

    #[test]
    fn ids_are_version_7_and_sort_by_time() {
        let early =
            SessionId::from_parts(Timestamp::from_millis(1_000).unwrap(), [0xff; 10]).unwrap();
        let late = SessionId::from_parts(Timestamp::from_millis(2_000).unwrap(), [0; 10]).unwrap();
        assert!(early < late);
        assert_eq!(early.as_uuid().get_version_num(), 7);
        assert_eq!(early.created(), Timestamp::from_millis(1_000).unwrap());
        assert_eq!(SessionId::parse(&early.to_string()).unwrap(), early);
        let v4 = "2f1d5c1e-8a4b-4c3d-9e2f-1a2b3c4d5e6f";
        assert!(
            SessionId::parse(v4)
                .unwrap_err()
                .to_string()
                .contains("not a version-7")
        );
        assert!(SessionId::parse("not-a-uuid").is_err());
        assert!(SessionId::from_parts(Timestamp::from_nanos(-1), [0; 10]).is_err());
    }

    #[test]
    fn text_values_round_trip() {
        for kind in SessionKind::ALL {
            assert_eq!(kind.as_str().parse::<SessionKind>().unwrap(), *kind);
            assert_eq!(serde_json::to_string(kind).unwrap(), format!("\"{kind}\""));
        }
        for status in SessionStatus::ALL {
            assert_eq!(status.as_str().parse::<SessionStatus>().unwrap(), *status);
            assert_eq!(
                serde_json::to_string(status).unwrap(),
                format!("\"{status}\"")
            );
        }
        let err = "live".parse::<SessionKind>().unwrap_err().to_string();
        assert!(
            err.contains("\"live\"") && err.contains("backtest paper collect"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn no_terminal_status_ever_moves(from in any_status(), to in any_status()) {
            if from.is_terminal() {
                prop_assert!(transition(from, to).is_err());
            }
        }

        #[test]
        fn every_live_status_can_fail(from in any_status()) {
            prop_assert_eq!(transition(from, Failed).is_ok(), from.is_live());
        }

        #[test]
        fn walks_end_terminal_forever(steps in proptest::collection::vec(any_status(), 0..30)) {
            let mut state = Queued;
            let mut ended: Option<SessionStatus> = None;
            for step in steps {
                if let Ok(next) = transition(state, step) {
                    prop_assert!(ended.is_none(), "moved out of terminal {:?}", ended);
                    prop_assert_ne!(next, Queued);
                    state = next;
                }
                if state.is_terminal() {
                    ended = Some(state);
                }
            }
        }
    }
}
