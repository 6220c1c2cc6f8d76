"""The portal's server: `streamlit run serve.py` serves Home.py behind the portal's middleware.

Streamlit detects the `app` object below and runs the app as an ASGI application, which is
the only way in Streamlit 1.67 to put middleware in front of its built-in routes.
"""

import streamlit as st
from starlette.middleware import Middleware

from portal.ui.asgi import HiddenRoutes, send_without_delay

send_without_delay()
app = st.App("Home.py", middleware=[Middleware(HiddenRoutes)])
