"""Admin history import: take an old system's export of invoice lines, with a progress bar."""

import tempfile
from pathlib import Path

import streamlit as st

from portal import history
from portal.ui.context import admin_page_context, show_flash

context = admin_page_context()
show_flash()
t = context.t

st.title(t("nav.admin_history"))
st.markdown(t("admin_history.intro"))
upload = st.file_uploader(t("admin_history.file"), type=["csv", "gz"])
delimiter_column, zone_column = st.columns(2)
delimiters = {",": t("admin_history.delimiter_comma"), ";": t("admin_history.delimiter_semicolon"), "tab": "Tab"}
delimiter = delimiter_column.selectbox(
    t("admin_history.delimiter"), list(delimiters), format_func=delimiters.__getitem__
)
time_zone = zone_column.text_input(t("admin_history.time_zone"), value=history.DEFAULT_TIME_ZONE, max_chars=64)
columns = st.text_input(t("admin_history.columns"), help=t("admin_history.columns_help"), max_chars=500)
skip_bad_lines = st.checkbox(t("admin_history.skip_bad_lines"))

if upload is not None and st.button(t("admin_history.run"), type="primary"):
    bar = st.progress(0.0, text=t("admin_history.reading"))
    suffix = ".csv.gz" if upload.name.endswith(".gz") else ".csv"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"export{suffix}"
        path.write_bytes(upload.getvalue())
        try:
            options = history.ImportOptions(
                delimiter=history.parse_delimiter(delimiter), time_zone=time_zone.strip(), skip_bad_lines=skip_bad_lines
            ).with_columns(history.parse_column_mapping(columns))
            with context.database.write() as session:
                summary = history.import_history(
                    session, path, options, lambda fraction, step: bar.progress(min(max(fraction, 0.0), 1.0), text=step)
                )
        except history.HistoryFileError as error:
            bar.empty()
            st.error(t("admin_history.failed", detail=str(error)))
        except ValueError as error:
            bar.empty()
            st.error(t("admin_history.failed", detail=str(error)))
        else:
            bar.progress(1.0, text=t("admin_history.done"))
            st.success(
                t(
                    "admin_history.summary",
                    products=context.fmt.number(summary.products_created),
                    customers=context.fmt.number(summary.customers_created),
                    orders=context.fmt.number(summary.orders_created),
                    lines=context.fmt.number(summary.lines_imported),
                    skipped=context.fmt.number(sum(summary.skipped.values())),
                    seconds=context.fmt.number(round(summary.seconds)),
                )
            )
            with st.expander(t("admin_history.details")):
                st.code("\n".join(summary.report()), language=None)
