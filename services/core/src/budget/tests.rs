use super::*;

#[test]
fn a_budget_admits_until_full_grows_and_gives_back_on_drop() {
    let b = Budget::new(100);
    let mut first = b.try_take(30).expect("room");
    assert_eq!((first.bytes(), b.in_use()), (30, 30));
    let second = b.try_take(60).expect("room");
    assert_eq!(b.try_take(20).map(|_| ()), Err(Full { capacity: 100 }));
    first.grow_to(40).expect("room for 10 more");
    assert_eq!(first.grow_to(50).map(|_| ()), Err(Full { capacity: 100 }));
    assert_eq!(first.bytes(), 40, "a failed growth keeps what was held");
    drop(second);
    assert_eq!(b.in_use(), 40);
    first
        .grow_to(1_000)
        .expect("grows to the whole budget at most");
    assert!(first.holds_all());
    drop(first);
    assert_eq!(b.in_use(), 0);
    assert_eq!(b.try_take(5_000).expect("alone").bytes(), 100);
}
