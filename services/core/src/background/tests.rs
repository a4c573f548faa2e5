use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

#[tokio::test(start_paused = true)]
async fn a_job_runs_each_interval_at_once_when_triggered_or_when_more_waits_and_stops() {
    let passes = Arc::new(AtomicU32::new(0));
    let cancel = CancellationToken::new();
    let job = Job::new("test", Duration::from_secs(10)).jitter(0.0);
    let trigger = job.trigger();
    let (seen, stop) = (passes.clone(), cancel.clone());
    let task = tokio::spawn(job.run(cancel.clone(), move |_, _| {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            Ok::<_, String>(match n {
                // The second pass finds more work: the third follows at once.
                2 => Tick::More,
                _ => Tick::Idle,
            })
        }
    }));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        passes.load(Ordering::SeqCst),
        0,
        "the first pass waits an interval"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(passes.load(Ordering::SeqCst), 1);
    trigger.fire();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(
        passes.load(Ordering::SeqCst),
        3,
        "triggered, then more waited"
    );
    stop.cancel();
    task.await.expect("ends when cancelled");
}

#[test]
fn jitter_stays_within_its_fraction() {
    let mut j = Jitter::new("x");
    let every = Duration::from_secs(30);
    for _ in 0..1000 {
        let d = j.spread(every, 0.1);
        assert!(
            d >= Duration::from_secs(27) && d <= Duration::from_secs(33),
            "{d:?}"
        );
    }
    assert_eq!(j.spread(every, 0.0), every);
}

#[tokio::test(start_paused = true)]
async fn a_trigger_does_not_move_the_schedule_and_each_pass_knows_why_it_runs() {
    let wakes = Arc::new(Mutex::new(Vec::new()));
    let cancel = CancellationToken::new();
    let job = Job::new("test", Duration::from_secs(10)).jitter(0.0);
    let trigger = job.trigger();
    let seen = wakes.clone();
    let task = tokio::spawn(job.run(cancel.clone(), move |_, why| {
        seen.lock().expect("no panics").push(why);
        async { Ok::<_, String>(Tick::Idle) }
    }));
    tokio::time::sleep(Duration::from_secs(6)).await;
    trigger.fire();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(*wakes.lock().expect("no panics"), [Wake::Triggered]);
    // The scheduled pass still comes at 10 s, not 10 s after the trigger.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        *wakes.lock().expect("no panics"),
        [Wake::Triggered, Wake::Scheduled]
    );
    cancel.cancel();
    task.await.expect("ends when cancelled");
}

#[tokio::test(start_paused = true)]
async fn demands_are_answered_by_the_serving_job_and_refused_when_none_serves() {
    let demands: Arc<Demands<u32, u32>> = Arc::default();
    assert_eq!(demands.ask(1).await, None, "no job serves them yet");
    let cancel = CancellationToken::new();
    let job = Job::new("test", Duration::from_secs(3600)).jitter(0.0);
    demands.open(job.trigger());
    let served = demands.clone();
    let task = tokio::spawn(job.run(cancel.clone(), move |_, _| {
        while let Some(d) = served.next() {
            let q = d.query;
            d.answer(q * 10);
        }
        async { Ok::<_, String>(Tick::Idle) }
    }));
    assert_eq!(demands.ask(4).await, Some(40));
    assert_eq!(demands.ask(5).await, Some(50));
    demands.close();
    assert_eq!(demands.ask(6).await, None);
    cancel.cancel();
    task.await.expect("ends when cancelled");
}
