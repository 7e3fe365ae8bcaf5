//! Benchmark inputs, generated from fixed seeds so every run measures the same bytes. Shared by
//! `benches/redact.rs` and `examples/cputime.rs`.
#![allow(dead_code)]

/// xorshift64*: a small fixed-seed generator, enough to vary the text.
pub(crate) struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const CHAT: &[&str] = &[
    "Hi, I ordered a blue jacket last week and it still hasn't arrived, can you check?",
    "Sure! Could you give me the email address you used for the order?",
    "It's the one on my account, jane.doe@example.com",
    "Thanks Jane, one moment while I look that up for you.",
    "I can see the parcel left our warehouse yesterday and should be with you tomorrow.",
    "Great, thank you so much for the quick help :)",
    "Is there anything else I can help you with today?",
    "Actually yes, can I change the size of the shoes in my other order to a medium?",
    "Of course. I've updated it, you'll get a confirmation email shortly.",
    "Do you ship to Canada? And how long does it usually take?",
    "We do! Standard shipping takes 5 to 7 business days, express takes 2.",
    "What are your opening hours on the weekend?",
    "Our stores open at 10am on Saturdays and 11am on Sundays.",
    "The discount code doesn't seem to work at checkout, it says expired.",
    "Sorry about that, I've applied the 15% discount manually to your basket.",
    "ok cool 👍 thanks",
    "Can I return an item I bought in store through the website?",
    "Yes, returns are free within 30 days, just use the link in your receipt email.",
];
const NUMBERS: &[&str] = &[
    "at 3:45pm",
    "for $24.99",
    "order #48213",
    "on 12/03",
    "2 items",
    "call 555-0142",
    "size 42",
    "in 10 minutes",
    "room 1204",
    "v2.3.1",
    "+44 20 7946 0958",
    "ticket 88231",
    "2024-01-15",
    "tracking 1Z999AA10123456784",
];
const CARDS: &[&str] = &[
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "3782 822463 10005",
    "6011000990139424",
];

/// Chat as it is: sentences, a number now and then, a card in about one message in 200.
pub(crate) fn sparse_chat(bytes: usize) -> String {
    let mut r = Rng(0x5eed_1234_abcd_0001);
    let mut s = String::with_capacity(bytes + 256);
    while s.len() < bytes {
        s.push_str(r.pick(CHAT));
        if r.below(4) == 0 {
            s.push(' ');
            s.push_str(r.pick(NUMBERS));
        }
        if r.below(200) == 0 {
            s.push_str(" my card is ");
            s.push_str(r.pick(CARDS));
        }
        s.push('\n');
    }
    s
}

const DENSE: &[&str] = &[
    "2024-01-15 14:30:00.123",
    "+1 (555) 123-4567",
    "order 302-4827361-5729301",
    "9400 1000 0000 0000 0000 00",
    "1700000000123",
    "$1,234,567.89",
    "192.168.100.200",
    "DE89 3704 0044 0532 0130 00",
    "4111 1111 1111 1112",
    "12345678901234567890",
    "978-3-16-148410-0",
    "ref 1234 5678 9012",
    "555.123.4567",
    "07911 123456",
    "20240115143000",
    "0.5772156649015328",
    "qty 12 x 4.50",
    "4111 1111 1111 1111",
    "5555555555554444",
];

/// Logs and forms: a number in nearly every token, about half the bytes digits.
pub(crate) fn digit_dense(bytes: usize) -> String {
    let mut r = Rng(0x5eed_1234_abcd_0002);
    let mut s = String::with_capacity(bytes + 256);
    while s.len() < bytes {
        for _ in 0..6 {
            s.push_str(r.pick(DENSE));
            s.push_str(if r.below(3) == 0 { ", " } else { " | " });
        }
        s.push('\n');
    }
    s
}

const INTL: &[&str] = &[
    "您好，我上周订购了一件蓝色夹克，到现在还没有收到，能帮我查一下吗？",
    "Здравствуйте! Подскажите, пожалуйста, когда придёт мой заказ?",
    "注文した商品がまだ届いていません。確認していただけますか？",
    "مرحبا، لم يصل طلبي بعد، هل يمكنك التحقق من ذلك؟",
    "Bonjour, est-ce que vous livrez en Belgique ? Merci d'avance 😊",
    "감사합니다. 주문 번호를 알려주시겠어요?",
];

/// Chat in other scripts: mostly multi-byte characters, a few digits.
pub(crate) fn intl_chat(bytes: usize) -> String {
    let mut r = Rng(0x5eed_1234_abcd_0003);
    let mut s = String::with_capacity(bytes + 256);
    while s.len() < bytes {
        s.push_str(r.pick(INTL));
        if r.below(5) == 0 {
            s.push_str(" 12:30 ");
        }
        s.push('\n');
    }
    s
}

/// The three texts, about `bytes` long each.
pub(crate) fn all(bytes: usize) -> [(&'static str, String); 3] {
    [
        ("sparse_chat", sparse_chat(bytes)),
        ("digit_dense", digit_dense(bytes)),
        ("intl_chat", intl_chat(bytes)),
    ]
}
