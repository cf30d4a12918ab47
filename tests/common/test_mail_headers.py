"""feedloop.common.mail.headers: the mailto a List-Unsubscribe carries, and reading it back."""

from urllib.parse import unquote

from feedloop.common.mail.headers import list_unsubscribe, token_in_reply

TOKEN = "k1.eyJzIjoiaW52LTEifQ.c2lnbmF0dXJl_-"


def test_the_mailto_carries_the_token_and_a_reply_gives_it_back() -> None:
    value = list_unsubscribe("https://s.example/u/" + TOKEN, "unsubscribe@s.example", TOKEN)
    assert value == (
        f"<https://s.example/u/{TOKEN}>, "
        f"<mailto:unsubscribe@s.example?subject=unsubscribe%20{TOKEN}>"
    )
    subject = unquote(value.rpartition("subject=")[2].rstrip(">"))
    assert token_in_reply(subject, []) == TOKEN
    assert token_in_reply("Re: " + subject, []) == TOKEN
    assert token_in_reply("AW: UNSUBSCRIBE " + TOKEN + "  ", []) == TOKEN


def test_the_token_may_come_in_the_address_and_nothing_else_counts() -> None:
    assert token_in_reply("", [f"<unsubscribe+{TOKEN}@s.example>"]) == TOKEN
    assert token_in_reply("please unsubscribe me", ["unsubscribe@s.example"]) is None
    assert token_in_reply(f"unsubscribe {TOKEN} now", []) is None
    assert token_in_reply("unsubscribe a.b", []) is None, "a token has three parts"
