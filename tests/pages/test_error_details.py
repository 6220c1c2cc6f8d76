from portal import ordering
from tests.pages.conftest import new_app, open_page, sign_in


def test_unexpected_error_shows_no_details(shop, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM /srv/portal/internal.py")

    monkeypatch.setattr(ordering, "list_backorders", broken)
    app = sign_in(new_app(), shop["customer_user"])

    open_page(app, "app_pages/backorders.py")

    shown = " ".join(str(element.message) for element in app.exception)
    assert app.exception, "the failure should surface as Streamlit's error element"
    assert "SELECT" not in shown
    assert "internal.py" not in shown
    assert all(not element.stack_trace for element in app.exception)
