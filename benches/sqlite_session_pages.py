#!/usr/bin/env python3
"""WAL pages per new visitor session with random ids against time-ordered ids (issue 13), Python's bundled SQLite.

The rows a storm session inserts (visitor, session record, profile, conversation, first message) with the
schema's indexes on them; 20,000 sessions warmed, then 4,000 more in commits of 12. Random ids put every insert on a
random leaf of each id-keyed index; ids that begin with their creation time (cordon_crypto::new_time_ordered_id)
append near the end. Run: python3 benches/sqlite_session_pages.py"""
import sqlite3, os, time, random, base64
def rid(p): return p+"_"+base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
ALPHA="-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"  # base64url, ASCII order
def b64(n, k):
    s=""
    for _ in range(k): s=ALPHA[n&63]+s; n>>=6
    return s
clock=[int(time.time()*1000)]
def oid(p):
    return p+"_"+b64(clock[0],8)+b64(int.from_bytes(os.urandom(11),'big'),14)
def run(ordered, warm=20000, sessions=4000, batch=12):
    path=f"/tmp/cordon-session-pages-{int(ordered)}.db"
    for suf in ("","-wal","-shm"):
        try: os.remove(path+suf)
        except FileNotFoundError: pass
    db=sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA wal_autocheckpoint=0")
    db.executescript("""
    CREATE TABLE visitors (id TEXT PRIMARY KEY, tenant_id TEXT, token_hash BLOB, user_id TEXT, created_at INTEGER);
    CREATE INDEX visitors_user ON visitors (tenant_id, user_id);
    CREATE TABLE visitor_sessions (id TEXT PRIMARY KEY, tenant_id TEXT, visitor_id TEXT, started_at INTEGER, ended_at INTEGER, asset_set INTEGER, node TEXT);
    CREATE INDEX visitor_sessions_time ON visitor_sessions (tenant_id, started_at);
    CREATE INDEX visitor_sessions_asset_set ON visitor_sessions (asset_set, tenant_id, started_at);
    CREATE INDEX visitor_sessions_node ON visitor_sessions (node, started_at);
    CREATE TABLE conversations (id TEXT PRIMARY KEY, tenant_id TEXT, visitor_id TEXT, state TEXT, agent_id TEXT, last_seq INTEGER, created_at INTEGER, updated_at INTEGER, closed_at INTEGER);
    CREATE INDEX conversations_tenant ON conversations (tenant_id, created_at, id);
    CREATE INDEX conversations_queue ON conversations (tenant_id, state, created_at);
    CREATE INDEX conversations_agent ON conversations (agent_id, state);
    CREATE INDEX conversations_visitor ON conversations (tenant_id, visitor_id);
    CREATE TABLE messages (conversation_id TEXT, seq INTEGER, tenant_id TEXT, client_msg_id TEXT, sender TEXT, body BLOB, created_at INTEGER, PRIMARY KEY (conversation_id, seq));
    CREATE UNIQUE INDEX messages_client ON messages (conversation_id, client_msg_id);
    CREATE TABLE visitor_profiles (tenant_id TEXT, visitor_id TEXT, sealed BLOB, updated_at INTEGER, PRIMARY KEY (tenant_id, visitor_id));
    """)
    mk = oid if ordered else rid
    def session(t):
        clock[0]+=1  # one session a millisecond
        ten="t_%d"%random.randrange(4); v=mk("v"); c=mk("c"); s=mk("vs")
        db.execute("INSERT INTO visitors VALUES (?,?,?,NULL,?)",(v,ten,os.urandom(32),t))
        db.execute("INSERT INTO visitor_sessions VALUES (?,?,?,?,NULL,1,'n1')",(s,ten,v,t))
        db.execute("INSERT INTO visitor_profiles VALUES (?,?,?,?)",(ten,v,os.urandom(200),t))
        db.execute("INSERT INTO conversations VALUES (?,?,?,'queued','a_%d',0,?,?,NULL)"%random.randrange(20),(c,ten,v,t,t))
        db.execute("INSERT INTO messages VALUES (?,1,?,?,'visitor',?,?)",(c,ten,rid("m"),os.urandom(160),t))
    t=0
    db.execute("BEGIN")
    for i in range(warm):
        t+=1; session(t)
    db.execute("COMMIT"); db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before=os.path.getsize(path+"-wal")
    for i in range(sessions//batch):
        db.execute("BEGIN")
        for j in range(batch): t+=1; session(t)
        db.execute("COMMIT")
    after=os.path.getsize(path+"-wal")
    return (after-before)/4096/sessions
for ordered in (False, True):
    print("ordered" if ordered else "random", round(run(ordered),2), "WAL pages per session")
