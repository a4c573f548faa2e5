use super::*;

fn rec(offset: i64, value: Option<&str>) -> StoredRecord {
    StoredRecord {
        offset: Offset(offset),
        record: Record {
            key: Some(Bytes::from(format!("k{offset}"))),
            value: value.map(|v| Bytes::from(v.to_string())),
            headers: vec![Header {
                name: "h".into(),
                value: Bytes::from_static(b"\x00\xff"),
            }],
            timestamp: 1_700_000_000_000 + offset,
        },
    }
}

#[test]
fn records_round_trip_through_a_batch() {
    let input = vec![
        rec(0, Some("a")),
        rec(1, None),
        StoredRecord {
            offset: Offset(5),
            record: Record::default(),
        },
    ];
    let mut rows = Rows::new("orders", 3, &[]);
    for r in &input {
        rows.push(r);
    }
    assert_eq!(rows.stats.rows, 3);
    let batch = rows.finish();
    assert_eq!(batch.num_rows(), 3);
    assert_eq!(records(&batch).expect("shape"), input);
    assert_eq!(rows.pending(), 0);
}

#[test]
fn projected_fields_are_typed_and_misfits_counted_never_dropped() {
    let fields = strata_core::topic_config::TopicConfig::default()
        .with_changes(
            &[(
                "archive.json.fields".to_string(),
                "user_id:int64,event:string,amount:double,ok:boolean,n:int32".to_string(),
            )]
            .into(),
        )
        .expect("valid")
        .archive_json_fields;
    let mut rows = Rows::new("t", 0, &fields);
    rows.push(&rec(
        0,
        Some(r#"{"user_id": 7, "event": "buy", "amount": 2.5, "ok": true, "n": 3}"#),
    ));
    rows.push(&rec(1, Some(r#"{"user_id": "seven", "event": "buy"}"#)));
    rows.push(&rec(2, Some("not json")));
    rows.push(&rec(3, Some(r#"{"amount": 4, "n": 99999999999}"#)));
    rows.push(&rec(4, None));
    assert_eq!(
        rows.stats.misfits, 3,
        "a wrong type, not JSON, out of range"
    );
    let batch = rows.finish();
    assert_eq!(batch.num_rows(), 5, "every record kept");
    let user: &Int64Array = column(&batch, "user_id").expect("column");
    assert_eq!(user.value(0), 7);
    assert!(user.is_null(1) && user.is_null(2) && user.is_null(3));
    let amount = batch
        .column_by_name("amount")
        .and_then(|c| c.as_any().downcast_ref::<arrow::array::Float64Array>())
        .expect("double column");
    assert_eq!((amount.value(0), amount.value(3)), (2.5, 4.0));
    let event: &StringArray = column(&batch, "event").expect("column");
    assert_eq!((event.value(0), event.value(1)), ("buy", "buy"));
    assert_eq!(
        schema(&fields).field_with_name("n").expect("n").data_type(),
        &DataType::Int32
    );
}
