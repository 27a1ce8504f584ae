//! One conformance suite for every ephemeral-store implementation: the SQL store on
//! SQLite, the SQL store on PostgreSQL and the Redis store.

use std::sync::Arc;
use std::time::Duration;

use gatehouse::store::{RedisStore, SqlStore, Store};

use crate::helpers::backend::{postgres_url, redis_url};
use crate::helpers::{TestDb, notice};

async fn sql_store(db: &TestDb) -> Store {
    let config = gatehouse::Config::load_from(
        None,
        vec![
            ("GATEHOUSE_DATABASE_URL".to_string(), db.url.clone()),
            ("GATEHOUSE_SECRET_KEY".to_string(), crate::helpers::random_key()),
        ],
    )
    .unwrap();
    let conn = gatehouse::db::connect(&config).await.unwrap();
    gatehouse::db::migrate(&conn).await.unwrap();
    Arc::new(SqlStore::new(conn))
}

fn redis_store(url: &str) -> Store {
    Arc::new(RedisStore::new(url, &format!("gh-test:{}:", uuid::Uuid::new_v4())).unwrap())
}

/// The contract every store must keep.
async fn conformance(store: Store) {
    let kind = store.kind();
    store.ping().await.unwrap_or_else(|e| panic!("{kind}: ping: {e}"));
    let ttl = Duration::from_secs(60);

    // put / get / overwrite / binary values
    assert_eq!(store.get("missing").await.unwrap(), None, "{kind}");
    store.put("k1", b"v1", ttl).await.unwrap();
    assert_eq!(store.get("k1").await.unwrap().as_deref(), Some(&b"v1"[..]), "{kind}");
    store.put("k1", &[0u8, 255, 10, 13, 0], ttl).await.unwrap();
    assert_eq!(
        store.get("k1").await.unwrap().as_deref(),
        Some(&[0u8, 255, 10, 13, 0][..]),
        "{kind}: overwrite + binary"
    );
    // get does not consume
    assert!(store.get("k1").await.unwrap().is_some(), "{kind}");

    // take is single use
    store.put("code:abc", b"payload", ttl).await.unwrap();
    assert_eq!(
        store.take("code:abc").await.unwrap().as_deref(),
        Some(&b"payload"[..]),
        "{kind}"
    );
    assert_eq!(store.take("code:abc").await.unwrap(), None, "{kind}: second take");
    assert_eq!(store.get("code:abc").await.unwrap(), None, "{kind}: gone after take");
    assert_eq!(store.take("never-there").await.unwrap(), None, "{kind}");

    // delete
    assert!(store.delete("k1").await.unwrap(), "{kind}: delete existing");
    assert!(!store.delete("k1").await.unwrap(), "{kind}: delete missing");
    assert_eq!(store.get("k1").await.unwrap(), None, "{kind}");

    // keys are independent
    store.put("a", b"1", ttl).await.unwrap();
    store.put("b", b"2", ttl).await.unwrap();
    assert_eq!(store.take("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.get("b").await.unwrap().as_deref(), Some(&b"2"[..]));

    // expiry: neither get nor take returns an expired value
    store.put("short", b"x", Duration::from_millis(300)).await.unwrap();
    store.put("short2", b"x", Duration::from_millis(300)).await.unwrap();
    assert!(
        store.get("short").await.unwrap().is_some(),
        "{kind}: alive before its TTL"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(store.get("short").await.unwrap(), None, "{kind}: expired get");
    assert_eq!(store.take("short2").await.unwrap(), None, "{kind}: expired take");
    // a put after expiry starts afresh
    store.put("short", b"y", ttl).await.unwrap();
    assert_eq!(store.get("short").await.unwrap().as_deref(), Some(&b"y"[..]), "{kind}");

    // windowed counter
    let w = Duration::from_millis(600);
    assert_eq!(store.incr("rl:ip", w).await.unwrap(), 1, "{kind}");
    assert_eq!(store.incr("rl:ip", w).await.unwrap(), 2, "{kind}");
    assert_eq!(
        store.incr("rl:other", w).await.unwrap(),
        1,
        "{kind}: counters are independent"
    );
    assert_eq!(store.incr("rl:ip", w).await.unwrap(), 3, "{kind}");
    // a refunded hit no longer counts; refunds never go below zero
    let ends_by = chrono::Utc::now().timestamp_millis() + 600 + 1000;
    store.decr("rl:ip", ends_by).await.unwrap();
    assert_eq!(
        store.incr("rl:ip", w).await.unwrap(),
        3,
        "{kind}: decr took one hit back"
    );
    for _ in 0..5 {
        store.decr("rl:other", ends_by).await.unwrap();
    }
    assert_eq!(store.incr("rl:other", w).await.unwrap(), 1, "{kind}: never below zero");
    store.decr("rl:none", ends_by).await.unwrap();
    assert_eq!(
        store.incr("rl:none", w).await.unwrap(),
        1,
        "{kind}: decr of nothing is a no-op"
    );
    // a refund meant for an earlier window leaves a newer one alone
    let long = Duration::from_secs(60);
    assert_eq!(store.incr("rl:late", long).await.unwrap(), 1, "{kind}");
    let earlier = chrono::Utc::now().timestamp_millis() + 1000;
    store.decr("rl:late", earlier).await.unwrap();
    assert_eq!(
        store.incr("rl:late", long).await.unwrap(),
        2,
        "{kind}: not a hit of that window"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        store.incr("rl:ip", w).await.unwrap(),
        1,
        "{kind}: a new window starts over"
    );

    // concurrent counting loses no hits
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.incr("rl:burst", Duration::from_secs(60)).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=25).collect::<Vec<u64>>(), "{kind}: every hit counted once");

    // concurrent take: exactly one winner, every round
    for round in 0..5 {
        let key = format!("race:{round}");
        store.put(&key, b"prize", ttl).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let s = store.clone();
                let k = key.clone();
                tokio::spawn(async move { s.take(&k).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            if t.await.unwrap().is_some() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "{kind}: round {round}: exactly one take wins");
    }

    // swap: only a live value is replaced, and the old one comes back
    assert_eq!(store.swap("sw:none", b"x", ttl).await.unwrap(), None, "{kind}");
    assert_eq!(
        store.get("sw:none").await.unwrap(),
        None,
        "{kind}: swap creates nothing"
    );
    store.put("sw:a", b"first", ttl).await.unwrap();
    assert_eq!(
        store.swap("sw:a", b"second", ttl).await.unwrap().as_deref(),
        Some(&b"first"[..]),
        "{kind}"
    );
    assert_eq!(
        store.get("sw:a").await.unwrap().as_deref(),
        Some(&b"second"[..]),
        "{kind}"
    );
    store.put("sw:old", b"x", Duration::from_millis(50)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(store.swap("sw:old", b"y", ttl).await.unwrap(), None, "{kind}: expired");
    // The TTL restarts with the swap.
    store.put("sw:ttl", b"x", Duration::from_millis(150)).await.unwrap();
    store.swap("sw:ttl", b"y", ttl).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.get("sw:ttl").await.unwrap().as_deref(), Some(&b"y"[..]), "{kind}");
    // Concurrent swaps form one chain: each old value is seen by exactly one swapper.
    store.put("sw:race", b"start", ttl).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                s.swap("sw:race", format!("v{i}").as_bytes(), Duration::from_secs(60))
                    .await
            })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(String::from_utf8(t.await.unwrap().unwrap().expect("a live value")).unwrap());
    }
    let last = String::from_utf8(store.get("sw:race").await.unwrap().unwrap()).unwrap();
    seen.push(last);
    seen.sort();
    let mut expected: Vec<String> = (0..16).map(|i| format!("v{i}")).collect();
    expected.push("start".into());
    expected.sort();
    assert_eq!(seen, expected, "{kind}: every value seen once");

    // sets: add, renew, list, remove; members expire one by one
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert!(store.members("set:a").await.unwrap().is_empty(), "{kind}");
    store.add_member("set:a", "one", ttl).await.unwrap();
    store
        .add_member("set:a", "two", Duration::from_millis(150))
        .await
        .unwrap();
    store.add_member("set:a", "one", ttl).await.unwrap();
    assert_eq!(
        sorted(store.members("set:a").await.unwrap()),
        vec!["one".to_string(), "two".to_string()],
        "{kind}: a member added twice is there once"
    );
    assert!(
        store.members("set:b").await.unwrap().is_empty(),
        "{kind}: sets are separate"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store.members("set:a").await.unwrap(),
        vec!["one".to_string()],
        "{kind}: an expired member is gone, the others stay"
    );
    // Renewing keeps a member that would have expired.
    store
        .add_member("set:c", "m", Duration::from_millis(150))
        .await
        .unwrap();
    store.add_member("set:c", "m", ttl).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store.members("set:c").await.unwrap(),
        vec!["m".to_string()],
        "{kind}: renewed"
    );
    assert!(store.remove_member("set:a", "one").await.unwrap(), "{kind}");
    assert!(!store.remove_member("set:a", "one").await.unwrap(), "{kind}");
    assert!(store.members("set:a").await.unwrap().is_empty(), "{kind}");

    // concurrent adds all land; concurrent takes split the members without overlap
    let tasks: Vec<_> = (0..25)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                s.add_member("set:burst", &format!("m{i:02}"), Duration::from_secs(60))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let all: Vec<String> = (0..25).map(|i| format!("m{i:02}")).collect();
    assert_eq!(
        sorted(store.members("set:burst").await.unwrap()),
        all,
        "{kind}: every add landed"
    );
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.take_members("set:burst").await.unwrap() })
        })
        .collect();
    let mut taken = Vec::new();
    for t in tasks {
        taken.extend(t.await.unwrap());
    }
    assert_eq!(sorted(taken), all, "{kind}: each member taken exactly once");
    assert!(
        store.members("set:burst").await.unwrap().is_empty(),
        "{kind}: taken sets are empty"
    );
    store
        .add_member("set:gone", "x", Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        store.take_members("set:gone").await.unwrap().is_empty(),
        "{kind}: take skips expired"
    );

    // purge removes expired entries and keeps live ones
    store.put("p1", b"x", Duration::from_millis(50)).await.unwrap();
    store.put("p2", b"x", ttl).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let removed = store.purge_expired().await.unwrap();
    if kind == "sql" {
        assert!(removed >= 1, "{kind}: purge removed {removed}");
    }
    assert!(
        store.get("p2").await.unwrap().is_some(),
        "{kind}: purge keeps live entries"
    );
}

#[tokio::test]
async fn sql_store_on_sqlite_conforms() {
    conformance(sql_store(&TestDb::sqlite()).await).await;
}

#[tokio::test]
async fn sql_store_on_postgres_conforms() {
    let Some(server) = postgres_url() else {
        notice("SKIPPED store conformance on PostgreSQL: set GATEHOUSE_TEST_DATABASE_URL to run it");
        return;
    };
    conformance(sql_store(&TestDb::create_postgres(&server).await).await).await;
}

#[tokio::test]
async fn redis_store_conforms() {
    let Some(url) = redis_url() else {
        notice("SKIPPED store conformance on Redis: set GATEHOUSE_TEST_REDIS_URL to run it");
        return;
    };
    conformance(redis_store(&url)).await;
}

#[tokio::test]
async fn sql_store_values_outlive_a_connection_pool() {
    // Two pools on one database (two instances) see the same entries.
    let db = TestDb::create().await;
    let a = sql_store(&db).await;
    let b = sql_store(&db).await;
    a.put("shared", b"v", Duration::from_secs(60)).await.unwrap();
    assert_eq!(b.take("shared").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(a.take("shared").await.unwrap(), None);
}
