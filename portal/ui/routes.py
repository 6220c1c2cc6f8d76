"""Pages that other pages link to: each page's script and URL path, in one place.

Home.py registers these pages with st.navigation, and lists link to them with
st.page_link. Both must name the same script and URL path, or the link fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Route:
    """A page's script, relative to Home.py, and the URL path it is served at."""

    script: str
    url_path: str

    def page(self, title: str | None = None, icon: str | None = None, hidden: bool = False) -> st.Page:
        """Return the page as st.navigation, st.page_link and st.switch_page take it.

        A fragment rerun skips Home.py's st.navigation, and st.page_link can then look
        up a Page object but not a script path.
        """
        return st.Page(
            self.script,
            title=title,
            icon=icon,
            url_path=self.url_path,
            visibility="hidden" if hidden else "visible",
        )


PRODUCTS = Route("app_pages/products.py", "products")
ORDERS = Route("app_pages/orders.py", "orders")
# Detail pages of their own, not states of the list pages. The menu keeps the query
# string when it links to the page already open, so "Orders" would show the order again.
PRODUCT = Route("app_pages/product.py", "product")
ORDER = Route("app_pages/order.py", "order")
ADMIN_ORDERS = Route("app_pages/admin_orders.py", "admin-orders")
ADMIN_ORDER = Route("app_pages/admin_order.py", "admin-order")


def detail_parameter(name: str, list_route: Route) -> str:
    """Return the query parameter that names a detail page's object, or open its list without it.

    Switching the acting customer removes the parameter, and the list suits the new customer.
    """
    value = st.query_params.get(name, "")
    if not value:
        st.switch_page(list_route.page())
    return value


def forward_saved_link(name: str, detail_route: Route) -> None:
    """Open the detail page when a list page gets its parameter, as links saved before detail pages do.

    Call it before show_flash, so the flash message waits for the detail page.
    """
    if name in st.query_params:
        st.switch_page(detail_route.page(), query_params={name: st.query_params[name]})
