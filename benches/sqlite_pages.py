#!/usr/bin/env python3
"""WAL pages and bytes written per message for messages-table designs (issue 13), with Python's bundled SQLite.

Each design: 1,000 conversations warmed with 20,000 messages, then 400 commits of N random-conversation messages;
the WAL growth over those commits, per message. Run: python3 benches/sqlite_pages.py"""
import sqlite3, os, random
def run(kind, schema, per=10, convs=1000, conv_update=False, batches=400, page=4096):
    path=f"/tmp/cordon-sqlite-pages-{kind}.db"
    for s in ["","-wal","-shm"]:
        try: os.remove(path+s)
        except FileNotFoundError: pass
    c=sqlite3.connect(path, isolation_level=None)
    c.execute(f"PRAGMA page_size={page}")
    c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA wal_autocheckpoint=0")
    c.execute("CREATE TABLE conversations (id TEXT PRIMARY KEY, tenant_id TEXT, visitor_id TEXT, state TEXT, agent_id TEXT, last_seq INTEGER, created_at INTEGER, updated_at INTEGER, closed_at INTEGER)")
    for s in schema: c.execute(s)
    ids=[f"c_{os.urandom(16).hex()[:22]}" for _ in range(convs)]
    for i in ids:
        c.execute("INSERT INTO conversations VALUES (?,?,?,?,?,0,0,0,NULL)", (i,"t_"+"x"*22,"v_"+"y"*22,"assigned","a_"+"z"*22))
    seq={i:0 for i in ids}
    def batch(n):
        c.execute("BEGIN IMMEDIATE")
        for _ in range(n):
            cid=random.choice(ids); seq[cid]+=1
            if conv_update:
                c.execute("UPDATE conversations SET last_seq=last_seq+1, updated_at=? WHERE id=?", (1,cid))
            c.execute("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?)", (cid, seq[cid], "t_"+"x"*22, "visitor", "v_"+"y"*22, os.urandom(16).hex()[:26], os.urandom(150), 1700000000000))
        c.execute("COMMIT")
    for _ in range(2000): batch(10)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    w0=os.path.getsize(path+"-wal")
    for _ in range(batches): batch(per)
    w1=os.path.getsize(path+"-wal")
    print(f"{kind:28s} per={per:3d} pages/msg {(w1-w0)/(batches*per)/(page+24):.2f}  bytes/msg {(w1-w0)/(batches*per):.0f}")
cols="conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, tenant_id TEXT, sender_kind TEXT, sender_id TEXT, client_msg_id TEXT, body BLOB, created_at INTEGER"
for per in (10,50):
  # Before issue 13: the schema of 0001 and the sequencer bumped on the conversation row.
  run("rowid+pk+uniq+conv", [f"CREATE TABLE messages ({cols}, PRIMARY KEY (conversation_id, seq), UNIQUE (conversation_id, sender_kind, sender_id, client_msg_id))"], per, conv_update=True)
  run("rowid+pk (no uniq, no conv)", [f"CREATE TABLE messages ({cols}, PRIMARY KEY (conversation_id, seq))"], per)
  run("rowid only", [f"CREATE TABLE messages ({cols})"], per)
  run("worowid only", [f"CREATE TABLE messages ({cols}, PRIMARY KEY (conversation_id, seq)) WITHOUT ROWID"], per)
  # Tried and dropped: the table clustered on (conversation_id, seq).
  run("worowid+uniq", [f"CREATE TABLE messages ({cols}, PRIMARY KEY (conversation_id, seq)) WITHOUT ROWID", "CREATE UNIQUE INDEX mc ON messages (conversation_id, sender_kind, sender_id, client_msg_id)"], per)
  # Issue 13 as shipped: the same schema, the sequencer read from the primary key (no conversation row write).
  run("rowid+pk+uniq, no conv", [f"CREATE TABLE messages ({cols}, PRIMARY KEY (conversation_id, seq), UNIQUE (conversation_id, sender_kind, sender_id, client_msg_id))"], per)
  run("rowid+pk+uniq, no conv, 1k pages", [f"CREATE TABLE messages ({cols}, PRIMARY KEY (conversation_id, seq), UNIQUE (conversation_id, sender_kind, sender_id, client_msg_id))"], per, page=1024)
  run("rowid+pk+uniq, no conv, 2k pages", [f"CREATE TABLE messages ({cols}, PRIMARY KEY (conversation_id, seq), UNIQUE (conversation_id, sender_kind, sender_id, client_msg_id))"], per, page=2048)
