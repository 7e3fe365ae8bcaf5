//! Files and images in a conversation, both ways (issue 20), against the real server on every backend: a visitor
//! (with the ticket its socket hands out) and an agent each send a file, both sides see its message; the limits
//! (size, allow-list) and content sniffing refuse with typed errors; EXIF, XMP and PNG text chunks are gone from
//! what is stored and served; a card number in a file name, and in a text file, is masked; downloads carry
//! `Content-Disposition`, `nosniff` and the sandboxing CSP; another tenant's principals and visitors, and
//! another visitor of the same tenant, are told there is no such file; the bytes are sealed (not in the SQLite
//! files in the clear); a visitor's deletion and a tenant's shred take the files with them; it is audited.

mod common;

use common::{Auth, TestServer, Ws};
use serde_json::{json, Value};

const CARD: &str = "4111 1111 1111 1111";
/// Text that must never be stored in the clear: what the text file says, and the photo's secrets.
const TEXT_MARKER: &str = "PLAINTEXT-FILE-MARKER-7f3a";
const GPS: &str = "GPS 48.8584N 2.2945E";
const XMP_SECRET: &str = "XMP-Secret-Person";

fn seg(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0xFF, marker];
    v.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A JPEG-shaped file with JFIF, EXIF (orientation 6, a GPS position), XMP and a comment before one scan.
fn jpeg_with_exif() -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    exif.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
    exif.extend_from_slice(&[0, 0, 0, 0]);
    exif.extend_from_slice(GPS.as_bytes());
    let mut v = vec![0xFF, 0xD8];
    v.extend(seg(0xE0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0"));
    v.extend(seg(0xE1, &exif));
    v.extend(seg(
        0xE1,
        format!("http://ns.adobe.com/xap/1.0/\0<x>{XMP_SECRET}</x>").as_bytes(),
    ));
    v.extend(seg(0xFE, b"COMMENT-SECRET"));
    v.extend(seg(0xDB, &[0; 65]));
    v.extend(seg(0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]));
    v.extend(seg(0xDA, &[1, 1, 0, 0, 0x3f, 0]));
    v.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD9]);
    v
}

fn png_chunk(ty: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(ty);
    v.extend_from_slice(data);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v
}

/// A PNG-shaped file with a text chunk and an eXIf chunk that must go, and pixels that must stay.
fn png_with_text() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend(png_chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]));
    v.extend(png_chunk(
        b"tEXt",
        format!("Author\0{XMP_SECRET}").as_bytes(),
    ));
    v.extend(png_chunk(b"eXIf", GPS.as_bytes()));
    v.extend(png_chunk(b"IDAT", b"PIXELS-STAY"));
    v.extend(png_chunk(b"IEND", b""));
    v
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}

/// A raw request: the body's bytes with their declared type, the visitor's ticket or a principal's credential.
async fn raw(
    srv: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new()
        .request(m, format!("{}{}", srv.base, path))
        .header("origin", &srv.base);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some((ty, bytes)) = body {
        req = req.header("content-type", ty).body(bytes);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let h = res.headers().clone();
    (status, h, res.bytes().await.unwrap().to_vec())
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

fn code_of(b: &[u8]) -> String {
    json_of(b)["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn ticket(ws: &mut Ws) -> String {
    ws.send(json!({"type": "file.ticket"})).await;
    let t = ws.recv_type("file.ticket").await;
    assert!(t["expires_at"].as_i64().unwrap() > cordon_store::now_ms());
    t["ticket"].as_str().unwrap().to_string()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn files_both_ways_with_limits_sniffing_stripping_isolation_and_sealing() {
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let sqlite_dir = db.dir.as_ref().map(|d| d.path().to_path_buf());
        let srv = TestServer::start_configured(db, |c| c.limits.max_file_bytes = 64 * 1024).await;
        let fx = srv.fixture("skyway").await;
        let other = srv.fixture("voltmart").await;
        let (mut agent_ws, _) = srv.online_agent("skyway", "agent").await;
        let agent_cookie = srv.login("skyway", "agent").await;
        let agent = [("cookie", agent_cookie.as_str())];
        let (mut visitor, welcome) = srv.visitor(&fx.tenant.widget_key, None).await;
        let visitor_id = welcome["visitor_id"].as_str().unwrap().to_string();
        let conv = visitor.open().await;
        visitor.say(&conv, "m1", "I will send a photo").await;
        let t = ticket(&mut visitor).await;
        let vt = [(cordon_service::files::TICKET_HEADER, t.as_str())];

        // ---- visitor -> agent: a photo with EXIF, XMP and a comment, under a name with a card number ----
        let name = format!("card {CARD} photo.jpg");
        let path = format!("/w/files?conversation_id={conv}&name={}", enc(&name));
        let (s, _, body) = raw(
            &srv,
            "POST",
            &path,
            &vt,
            Some(("image/jpeg", jpeg_with_exif())),
        )
        .await;
        assert_eq!(s, 201, "{backend}: {}", String::from_utf8_lossy(&body));
        let view = json_of(&body);
        let file_id = view["id"].as_str().unwrap().to_string();
        let stored_name = view["name"].as_str().unwrap();
        assert!(
            !stored_name.contains(CARD) && !stored_name.contains("41111111"),
            "{stored_name}"
        );
        assert!(
            stored_name.contains("1111") && stored_name.ends_with(".jpg"),
            "{stored_name}"
        );
        assert_eq!(view["content_type"], "image/jpeg");
        assert_eq!(view["image"], true);
        assert_eq!(view["uploader_kind"], "visitor");
        // Both sides see the file's message, with the masked name.
        let is_file = |f: &Value| {
            f["type"] == "message"
                && f["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(&format!("[file {file_id}] ")))
        };
        let on_agent = agent_ws.recv_where(is_file).await;
        assert_eq!(on_agent["sender"]["kind"], "visitor");
        assert!(!on_agent.to_string().contains(CARD));
        visitor.recv_where(is_file).await;

        // The agent fetches it: metadata gone, orientation kept, the headers of a download that cannot run.
        let get = format!("/api/v1/conversations/{conv}/files/{file_id}");
        let (s, h, bytes) = raw(&srv, "GET", &get, &agent, None).await;
        assert_eq!(s, 200, "{backend}");
        assert_eq!(h["content-type"], "image/jpeg");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
        assert!(h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline; filename=\""));
        assert!(!h["content-disposition"]
            .to_str()
            .unwrap()
            .contains("4111 1111"));
        for gone in [GPS.as_bytes(), XMP_SECRET.as_bytes(), b"COMMENT-SECRET"] {
            assert!(
                !contains(&bytes, gone),
                "{backend}: metadata left: {}",
                String::from_utf8_lossy(gone)
            );
        }
        assert!(contains(&bytes, b"Exif\0\0MM"), "the orientation is kept");
        assert!(bytes.starts_with(&[0xFF, 0xD8]) && bytes.ends_with(&[0xFF, 0xD9]));
        // Opened as a page, even an image is only a download.
        let (_, h, _) = raw(
            &srv,
            "GET",
            &get,
            &[
                ("cookie", agent_cookie.as_str()),
                ("sec-fetch-dest", "document"),
            ],
            None,
        )
        .await;
        assert!(h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;"));
        // The visitor fetches its own file with its ticket.
        let (s, h, vbytes) = raw(&srv, "GET", &format!("/w/files/{file_id}"), &vt, None).await;
        assert_eq!(s, 200);
        assert_eq!(vbytes, bytes);
        assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");

        // ---- agent -> visitor: a text file with a card number in it, and a PNG with text chunks ----
        let text = format!("Your receipt {TEXT_MARKER}\npaid with {CARD}\n");
        let (s, _, body) = raw(
            &srv,
            "POST",
            &format!("/api/v1/conversations/{conv}/files?name=receipt.html"),
            &agent,
            Some(("text/plain; charset=utf-8", text.clone().into_bytes())),
        )
        .await;
        assert_eq!(s, 201, "{backend}: {}", String::from_utf8_lossy(&body));
        let txt = json_of(&body);
        let txt_id = txt["id"].as_str().unwrap().to_string();
        // Never offered as a page: a text file named .html is saved as .html.txt.
        assert_eq!(txt["name"], "receipt.html.txt");
        assert_eq!(txt["image"], false);
        let txt_msg = visitor
            .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == txt_id.as_str())
            .await;
        assert_eq!(txt_msg["sender"]["kind"], "agent");
        let (s, h, got) = raw(&srv, "GET", &format!("/w/files/{txt_id}"), &vt, None).await;
        assert_eq!(s, 200);
        assert_eq!(h["content-type"], "text/plain; charset=utf-8");
        assert!(h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"receipt.html.txt\""));
        let got = String::from_utf8(got).unwrap();
        assert!(
            got.contains(TEXT_MARKER) && !got.contains(CARD) && got.contains("1111"),
            "{got}"
        );
        let (s, _, body) = raw(
            &srv,
            "POST",
            &format!("/api/v1/conversations/{conv}/files?name=chart.png"),
            &agent,
            Some(("image/png", png_with_text())),
        )
        .await;
        assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
        let png_id = json_of(&body)["id"].as_str().unwrap().to_string();
        let (_, _, png) = raw(&srv, "GET", &format!("/w/files/{png_id}"), &vt, None).await;
        assert!(contains(&png, b"PIXELS-STAY"));
        assert!(!contains(&png, XMP_SECRET.as_bytes()) && !contains(&png, GPS.as_bytes()));
        assert!(!contains(&png, b"tEXt") && !contains(&png, b"eXIf"));

        // ---- limits and sniffing: typed refusals ----
        let up = |ty: &'static str, bytes: Vec<u8>| {
            let p = path.clone();
            let srv = &srv;
            let vt = vt;
            async move { raw(srv, "POST", &p, &vt, Some((ty, bytes))).await }
        };
        let (s, _, b) = up("text/plain", vec![b'a'; 65 * 1024]).await;
        assert_eq!((s, code_of(&b).as_str()), (413, "file_too_large"));
        let (s, _, b) = up("image/png", b"GIF89a\x01\0\x01\0".to_vec()).await;
        assert_eq!((s, code_of(&b).as_str()), (415, "file_type_mismatch"));
        let (s, _, b) = up("image/png", b"<html><script>alert(1)</script>".to_vec()).await;
        assert_eq!((s, code_of(&b).as_str()), (415, "file_type_mismatch"));
        let (s, _, b) = up("image/svg+xml", b"<svg onload=alert(1)/>".to_vec()).await;
        assert_eq!((s, code_of(&b).as_str()), (415, "file_type_not_allowed"));
        let (s, _, b) = up("text/html", b"<p>hi</p>".to_vec()).await;
        assert_eq!((s, code_of(&b).as_str()), (415, "file_type_not_allowed"));
        let (s, _, b) = up("image/jpeg", vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00]).await;
        assert_eq!((s, code_of(&b).as_str()), (400, "file_malformed"));
        let (s, _, b) = up("text/plain", b"binary\0zero".to_vec()).await;
        assert_eq!((s, code_of(&b).as_str()), (415, "file_type_mismatch"));

        // ---- who may send and fetch ----
        // No ticket, a forged one, another page's origin.
        let (s, _, _) = raw(&srv, "GET", &format!("/w/files/{file_id}"), &[], None).await;
        assert_eq!(s, 401);
        // The MAC's last hex digit changed (to another digit: a ticket that already ends in 0 must not stay valid).
        let last = if t.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{last}", &t[..t.len() - 1]);
        let (s, _, _) = raw(
            &srv,
            "GET",
            &format!("/w/files/{file_id}"),
            &[(cordon_service::files::TICKET_HEADER, forged.as_str())],
            None,
        )
        .await;
        assert_eq!(s, 401);
        let res = reqwest::Client::new()
            .get(format!("{}/w/files/{file_id}", srv.base))
            .header("origin", "https://evil.example")
            .header(cordon_service::files::TICKET_HEADER, &t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403);
        // An API key reads files with conversations:read, but only agents send them.
        let reader = srv.api_key(&fx.tenant, &["conversations:read"]).await;
        let bearer = format!("Bearer {reader}");
        let (s, _, _) = raw(
            &srv,
            "GET",
            &get,
            &[("authorization", bearer.as_str())],
            None,
        )
        .await;
        assert_eq!(s, 200);
        let (s, _, _) = raw(
            &srv,
            "POST",
            &format!("/api/v1/conversations/{conv}/files?name=a.txt"),
            &[("authorization", bearer.as_str())],
            Some(("text/plain", b"hi".to_vec())),
        )
        .await;
        assert_eq!(s, 403);
        // The other agent, to whom the chat is not assigned, cannot send in it.
        let agent2 = srv.login("skyway", "agent2").await;
        let (s, _, _) = raw(
            &srv,
            "POST",
            &format!("/api/v1/conversations/{conv}/files?name=a.txt"),
            &[("cookie", agent2.as_str())],
            Some(("text/plain", b"hi".to_vec())),
        )
        .await;
        assert_eq!(s, 403);
        // Another visitor of the same tenant: not its conversation, not its file.
        let (mut stranger, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let stranger_conv = stranger.open().await;
        let st = ticket(&mut stranger).await;
        let sth = [(cordon_service::files::TICKET_HEADER, st.as_str())];
        let (s, _, b) = raw(&srv, "GET", &format!("/w/files/{file_id}"), &sth, None).await;
        assert_eq!((s, code_of(&b).as_str()), (404, "not_found"));
        let (s, _, _) = raw(
            &srv,
            "POST",
            &path,
            &sth,
            Some(("text/plain", b"x".to_vec())),
        )
        .await;
        assert_eq!(s, 404);
        // The file under another conversation's path is not found either.
        let (s, _, _) = raw(
            &srv,
            "GET",
            &format!("/api/v1/conversations/{stranger_conv}/files/{file_id}"),
            &agent,
            None,
        )
        .await;
        assert_eq!(s, 404);
        // Another tenant: its admin, its all-scope key and its visitor are told there is no such file.
        let o_cookie = srv.login("voltmart", "admin").await;
        let o_key = srv
            .api_key(
                &other.tenant,
                &["admin", "conversations:read", "audit:read"],
            )
            .await;
        let o_bearer = format!("Bearer {o_key}");
        for h in [
            ("cookie", o_cookie.as_str()),
            ("authorization", o_bearer.as_str()),
        ] {
            let (s, _, b) = raw(&srv, "GET", &get, &[h], None).await;
            assert_eq!(s, 404, "{}", String::from_utf8_lossy(&b));
            let (s, _, _) = raw(
                &srv,
                "POST",
                &format!("/api/v1/conversations/{conv}/files?name=a.txt"),
                &[h],
                Some(("text/plain", b"x".to_vec())),
            )
            .await;
            assert!(matches!(s, 403 | 404), "{s}");
        }
        let (mut o_visitor, _) = srv.visitor(&other.tenant.widget_key, None).await;
        o_visitor.open().await;
        let ot = ticket(&mut o_visitor).await;
        let oth = [(cordon_service::files::TICKET_HEADER, ot.as_str())];
        let (s, _, _) = raw(&srv, "GET", &format!("/w/files/{file_id}"), &oth, None).await;
        assert_eq!(s, 404);
        let (s, _, _) = raw(
            &srv,
            "POST",
            &path,
            &oth,
            Some(("text/plain", b"x".to_vec())),
        )
        .await;
        assert_eq!(s, 404);

        // ---- sealed at rest; audited ----
        let stored = srv
            .store()
            .conversation_file(&fx.tenant.id, &txt_id)
            .await
            .unwrap()
            .unwrap();
        assert!(!contains(&stored.sealed, TEXT_MARKER.as_bytes()));
        assert!(!contains(&stored.name_sealed, b"receipt"));
        if let Some(dir) = &sqlite_dir {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    let bytes = std::fs::read(&p).unwrap();
                    for needle in [TEXT_MARKER.as_bytes(), b"PIXELS-STAY", b"receipt.html"] {
                        assert!(
                            !contains(&bytes, needle),
                            "{} holds {}",
                            p.display(),
                            String::from_utf8_lossy(needle)
                        );
                    }
                }
            }
        }
        let entries = srv
            .store()
            .audit_entries(
                &fx.tenant.id,
                0,
                srv.store().audit_size(&fx.tenant.id).await.unwrap(),
            )
            .await
            .unwrap();
        let log: String = entries
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect();
        for action in ["file.upload", "file.read", "file.ticket_issue"] {
            assert!(log.contains(action), "{action} audited");
        }
        assert!(log.contains(&format!("file:{file_id}")));
        assert!(!log.contains(TEXT_MARKER) && !log.contains("receipt"));

        // ---- lifecycle: the visitor's deletion takes its files; a shred takes the tenant's ----
        let admin = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "admin").await));
        let (s, d) = admin
            .call(
                "POST",
                "/api/v1/visitor-requests/delete",
                Some(json!({"visitor_id": visitor_id})),
            )
            .await;
        assert_eq!(s, 200, "{d}");
        assert!(srv
            .store()
            .conversation_file(&fx.tenant.id, &file_id)
            .await
            .unwrap()
            .is_none());
        assert!(srv
            .store()
            .conversation_file(&fx.tenant.id, &txt_id)
            .await
            .unwrap()
            .is_none());
        let (s, _, body) = raw(
            &srv,
            "POST",
            &format!("/w/files?conversation_id={stranger_conv}&name=n.txt"),
            &sth,
            Some(("text/plain", b"kept until the shred".to_vec())),
        )
        .await;
        assert_eq!(s, 201);
        let kept = json_of(&body)["id"].as_str().unwrap().to_string();
        cordon_service::management::shred_tenant(srv.service(), &fx.tenant.id, "operator:cli")
            .await
            .unwrap();
        assert!(srv
            .store()
            .conversation_file(&fx.tenant.id, &kept)
            .await
            .unwrap()
            .is_none());
        // The shredded tenant's tickets stop working with its keys (once the 2 s key cache has let go of them);
        // the file is gone either way.
        let (s, _, _) = raw(&srv, "GET", &format!("/w/files/{kept}"), &sth, None).await;
        assert!(matches!(s, 401 | 404), "{s}");
        srv.stop().await;
    }
}

/// A visitor's upload budget (20 files, or five of the largest, an hour, in all its conversations): the next file
/// is `429 rate_limited` with a wait, counted from the stored files (so the same on every node and after a
/// restart); agents are not limited by it, and another visitor has a budget of its own.
#[tokio::test]
async fn a_visitor_sends_a_bounded_number_of_files_an_hour() {
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let srv = TestServer::start_configured(db, |c| c.limits.max_file_bytes = 1024).await;
        let fx = srv.fixture("skyway").await;
        let (_agent_ws, _) = srv.online_agent("skyway", "agent").await;
        let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        let t = ticket(&mut visitor).await;
        let vt = [(cordon_service::files::TICKET_HEADER, t.as_str())];
        let path = format!("/w/files?conversation_id={conv}&name=note.txt");
        // Bytes: five files of the largest size fill the byte budget.
        for i in 0..5 {
            let (s, _, b) = raw(
                &srv,
                "POST",
                &path,
                &vt,
                Some(("text/plain", vec![b'a'; 1024])),
            )
            .await;
            assert_eq!(
                s,
                201,
                "{backend}: big file {i}: {}",
                String::from_utf8_lossy(&b)
            );
        }
        let (s, h, b) = raw(
            &srv,
            "POST",
            &path,
            &vt,
            Some(("text/plain", b"one more".to_vec())),
        )
        .await;
        assert_eq!(
            (s, code_of(&b).as_str()),
            (429, "rate_limited"),
            "{backend}"
        );
        assert_eq!(h["retry-after"], "600");
        // Count: another visitor sends small files until the twentieth.
        let (mut second, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let conv2 = second.open().await;
        let t2 = ticket(&mut second).await;
        let vt2 = [(cordon_service::files::TICKET_HEADER, t2.as_str())];
        let path2 = format!("/w/files?conversation_id={conv2}&name=note.txt");
        for i in 0..cordon_service::files::VISITOR_FILES_PER_HOUR {
            let (s, _, b) = raw(
                &srv,
                "POST",
                &path2,
                &vt2,
                Some(("text/plain", format!("note {i}").into_bytes())),
            )
            .await;
            assert_eq!(
                s,
                201,
                "{backend}: small file {i}: {}",
                String::from_utf8_lossy(&b)
            );
        }
        let (s, _, b) = raw(
            &srv,
            "POST",
            &path2,
            &vt2,
            Some(("text/plain", b"21st".to_vec())),
        )
        .await;
        assert_eq!(
            (s, code_of(&b).as_str()),
            (429, "rate_limited"),
            "{backend}"
        );
        // The agent still sends files into the first chat.
        let agent_cookie = srv.login("skyway", "agent").await;
        let agent = [("cookie", agent_cookie.as_str())];
        let (s, _, b) = raw(
            &srv,
            "POST",
            &format!("/api/v1/conversations/{conv}/files?name=reply.txt"),
            &agent,
            Some(("text/plain", b"here you are".to_vec())),
        )
        .await;
        assert_eq!(s, 201, "{backend}: {}", String::from_utf8_lossy(&b));
        srv.stop().await;
    }
}
