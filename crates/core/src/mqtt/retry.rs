//! Retries of broker connections: exponential backoff with jitter on timeouts, refused TCP
//! connections and a busy broker, capped by the profile; never on an authorisation or
//! certificate failure ([`MqttError::retryable`]).

use std::time::Duration;

use super::MqttError;
use crate::station::RetryPolicy;

/// What the retry loop needs from the outside world, so tests can drive it without waiting.
pub struct RetryEnv<'a> {
    /// A number in [0, 1) per wait, for the jitter.
    pub jitter: &'a mut dyn FnMut() -> f64,
    pub sleep: &'a mut dyn FnMut(Duration),
    /// Told before each wait: the retry number (1 = first retry), the error, the wait.
    pub on_retry: &'a mut dyn FnMut(u32, &MqttError, Duration),
}

/// Runs `attempt` until it succeeds, fails for a reason retrying cannot fix, or the policy's
/// attempts or total wait are used up; the last error is returned.
pub fn with_retry<T>(
    policy: &RetryPolicy,
    env: RetryEnv<'_>,
    mut attempt: impl FnMut() -> Result<T, MqttError>,
) -> Result<T, MqttError> {
    let mut waited = Duration::ZERO;
    let cap = Duration::from_millis(policy.max_total_backoff_ms);
    let mut retry = 0;
    loop {
        let err = match attempt() {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        retry += 1;
        if !err.retryable() || retry >= policy.max_attempts.max(1) {
            return Err(err);
        }
        let wait = policy.backoff(retry, (env.jitter)());
        let wait = wait.min(cap.saturating_sub(waited));
        if wait.is_zero() {
            return Err(err);
        }
        (env.on_retry)(retry, &err, wait);
        (env.sleep)(wait);
        waited += wait;
    }
}

/// [`with_retry`] with real time, real randomness and a log line per retry.
pub fn with_retry_now<T>(
    policy: &RetryPolicy,
    attempt: impl FnMut() -> Result<T, MqttError>,
) -> Result<T, MqttError> {
    with_retry(
        policy,
        RetryEnv {
            jitter: &mut rand::random::<f64>,
            sleep: &mut std::thread::sleep,
            on_retry: &mut |n, err, wait| {
                tracing::info!("broker attempt failed ({err}); retry {n} in {wait:?}");
            },
        },
        attempt,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable() -> MqttError {
        MqttError::Unreachable {
            addr: "127.0.0.1:1".into(),
            detail: "refused".into(),
        }
    }

    /// Runs with a fake clock; returns the result, the attempts made and the waits.
    fn drive(
        policy: &RetryPolicy,
        mut results: Vec<Result<u32, MqttError>>,
    ) -> (Result<u32, MqttError>, usize, Vec<Duration>) {
        let mut waits = Vec::new();
        let mut attempts = 0;
        results.reverse();
        let out = with_retry(
            policy,
            RetryEnv {
                jitter: &mut || 0.5,
                sleep: &mut |d| waits.push(d),
                on_retry: &mut |_, _, _| {},
            },
            || {
                attempts += 1;
                results.pop().unwrap_or_else(|| Err(unreachable()))
            },
        );
        (out, attempts, waits)
    }

    #[test]
    fn refused_connections_are_retried_with_growing_waits() {
        let policy = RetryPolicy::default();
        let (out, attempts, waits) =
            drive(&policy, vec![Err(unreachable()), Err(unreachable()), Ok(7)]);
        assert_eq!(out.ok(), Some(7));
        assert_eq!(attempts, 3);
        assert_eq!(
            waits,
            [Duration::from_millis(375), Duration::from_millis(750)]
        );
    }

    #[test]
    fn attempts_and_total_wait_are_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 4_000,
            max_total_backoff_ms: 5_000,
        };
        let (out, _, waits) = drive(&policy, vec![]);
        assert!(out.is_err());
        assert_eq!(waits.iter().sum::<Duration>(), Duration::from_millis(5_000));
        let (_, attempts, _) = drive(
            &RetryPolicy {
                max_attempts: 2,
                ..policy
            },
            vec![],
        );
        assert_eq!(attempts, 2);
    }

    #[test]
    fn authorisation_failures_are_never_retried() {
        for err in [
            MqttError::NotAuthorized("not authorised (0x87)".into()),
            MqttError::CertificateRevoked,
            MqttError::UntrustedClientCa,
            MqttError::ClientIdRefused("client id not allowed (0x85)".into()),
        ] {
            let (out, attempts, waits) = drive(&RetryPolicy::default(), vec![Err(err)]);
            assert!(out.is_err());
            assert_eq!((attempts, waits.len()), (1, 0));
        }
    }
}
