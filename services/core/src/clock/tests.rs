use std::time::Duration;

use super::*;

#[tokio::test(start_paused = true)]
async fn the_runtime_clock_moves_with_paused_time_and_nothing_else() {
    let c = RuntimeClock::new(1_000);
    assert_eq!(c.now_ms(), 1_000);
    tokio::time::sleep(Duration::from_secs(90)).await;
    assert_eq!(
        c.now_ms(),
        91_000,
        "a simulated wait moves wall time exactly"
    );
}
