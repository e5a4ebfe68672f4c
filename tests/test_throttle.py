"""Per-IP login limits: HTTP 429 with Retry-After, a localized page, nothing else changes."""


def test_login_is_limited_per_address(make_app):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    statuses = []
    for _ in range(11):
        response = client.post("/login", data={"email": "nobody@example.com",
                                                "password": "guess"},
                               headers={"Accept-Language": "en"})
        statuses.append(response.status_code)
    # CSRF is checked after the limit: every attempt counts, the eleventh is refused
    assert statuses[-1] == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in response.get_data(as_text=True)
    # another address is not affected
    other = client.get("/login", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200
