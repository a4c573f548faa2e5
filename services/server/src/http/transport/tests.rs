use super::*;

#[test]
fn bodiless_error_heads_get_a_json_body() {
    let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 22:00:00 GMT\r\n\r\n";
    let out = String::from_utf8(rewrite(head).expect("rewritten")).expect("utf-8");
    let (h, body) = out.split_once("\r\n\r\n").expect("head and body");
    assert!(h.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert!(h.contains("connection: close") && h.contains("date: "));
    assert!(h.contains("content-type: application/json"));
    assert!(h.contains(&format!("content-length: {}", body.len())));
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(v["error_code"], 43101);
    // A head without any content-length is rewritten too.
    assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\n\r\n").is_some());
}

#[test]
fn other_writes_pass_unchanged() {
    for bytes in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
        b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        b"{\"records\": []}",
        b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n",
    ] {
        assert!(
            rewrite(bytes).is_none(),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
}
