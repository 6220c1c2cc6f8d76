"""Admin audit log: sign-in attempts, lockouts, password changes and admin changes."""

import pandas as pd
import streamlit as st

from portal import audit
from portal.ui.context import admin_page_context

context = admin_page_context()
t = context.t

st.title(t("nav.admin_audit"))
action = st.text_input(t("admin_audit.action_filter"), max_chars=60, help=t("admin_audit.action_help")).strip()
cursors = st.session_state.setdefault("audit_cursors", [None])
with context.database.read() as session:
    events = audit.list_events(session, action or None, before_id=cursors[-1])

if not events:
    st.info(t("admin_audit.none"))
    st.stop()
st.dataframe(
    pd.DataFrame(
        [
            {
                t("admin_audit.column_when"): context.fmt.datetime(row.created_at),
                t("admin_audit.column_actor"): row.actor,
                t("admin_audit.column_action"): row.action,
                t("admin_audit.column_object"): f"{row.object_type} {row.object_id}".strip(),
                t("admin_audit.column_customer"): row.customer_id or "",
                t("admin_audit.column_detail"): row.detail,
            }
            for _, row in events
        ]
    ),
    hide_index=True,
    width="stretch",
)
previous_column, next_column = st.columns(2)
if len(cursors) > 1 and previous_column.button(t("paging.previous")):
    cursors.pop()
    st.rerun()
if len(events) == audit.PAGE_SIZE and next_column.button(t("paging.next")):
    cursors.append(events[-1][0])
    st.rerun()
