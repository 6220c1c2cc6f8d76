"""Admin products: the product table editor, photos, import and export."""

import datetime as dt
import functools
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from portal import imports, products
from portal.catalog import MAX_SEARCH_LENGTH
from portal.errors import PortalError, Problems
from portal.imports import FileFormat, ImportKind
from portal.products import RowProblem
from portal.text import escape_markdown
from portal.ui.context import admin_page_context, error_text, flash, show_flash

CURSORS_KEY = "admin_products_cursors"
SNAPSHOT_KEY = "admin_products_snapshot"
EDITOR_GENERATION_KEY = "admin_products_editor_generation"
UPLOAD_GENERATION_KEY = "admin_products_upload_generation"
SEARCH_KEY = "admin_products_search"
IMPORT_KEY = "admin_products_import"
SAVE_PROBLEMS_KEY = "admin_products_save_problems"
TAB_KEY = "admin_products_tab"
# The preview table shows this many rows; every problem is listed whatever the file's size.
PREVIEW_ROWS = 500
MIME_TYPES = {
    FileFormat.CSV: "text/csv",
    FileFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

context = admin_page_context()
language = context.request.language
decimal_mark = "," if language == "nl" else "."
st.title(context.t("nav.admin_products"))
show_flash()


def label(name: str) -> str:
    return imports.field_label(language, name) if name else "—"


def display(name: str, value: object) -> str:
    """Return a parsed value as text in the screen's language."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return context.t("import.value_yes") if value else context.t("import.value_no")
    if isinstance(value, Decimal) and name in imports.MONEY_FIELDS:
        return imports.money_text(value, decimal_mark)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f").replace(".", decimal_mark)
    return str(value)


def problem_message(problem: PortalError) -> str:
    """Translate a problem for a table cell, where text is never read as Markdown."""
    return context.t(problem.code, **problem.params)


def reload_editor() -> None:
    """Start a fresh table editor on products reloaded from the database, dropping pending edits."""
    st.session_state[EDITOR_GENERATION_KEY] = st.session_state.get(EDITOR_GENERATION_KEY, 0) + 1
    st.session_state.pop(SNAPSHOT_KEY, None)
    st.session_state.pop(SAVE_PROBLEMS_KEY, None)


def clear_uploads() -> None:
    """Start fresh file uploaders, after a photo or a file has been used."""
    st.session_state[UPLOAD_GENERATION_KEY] = st.session_state.get(UPLOAD_GENERATION_KEY, 0) + 1
    st.session_state.pop(IMPORT_KEY, None)


def reset_paging() -> None:
    st.session_state[CURSORS_KEY] = [None]
    reload_editor()


editor_generation = st.session_state.setdefault(EDITOR_GENERATION_KEY, 0)
upload_generation = st.session_state.setdefault(UPLOAD_GENERATION_KEY, 0)


# --- Products --------------------------------------------------------------------------


def load_snapshot() -> dict:
    """Return the page of products the editor shows, loaded once per page, search and save.

    The editor reports edits by row position, so the rows stay fixed until they are
    saved or the page changes, even when another admin changes products meanwhile.
    """
    snapshot = st.session_state.get(SNAPSHOT_KEY)
    if snapshot is None:
        cursors = st.session_state.setdefault(CURSORS_KEY, [None])
        with context.database.read() as session:
            page = products.list_products(session, st.session_state.get(SEARCH_KEY, ""), cursors[-1])
            vat_options = [products.format_rate(rate) for rate in products.allowed_vat_rates(session)]
        snapshot = {"rows": page.rows, "next": page.next_cursor, "vat_options": vat_options}
        st.session_state[SNAPSHOT_KEY] = snapshot
    return snapshot


def editor_frame(rows: list[products.AdminProductRow]) -> pd.DataFrame:
    records = [
        {
            "sku": row.sku,
            "ean": row.ean or "",
            "name": row.name,
            "description": row.description,
            "product_group": row.product_group,
            "list_price": imports.money_text(row.list_price, decimal_mark),
            "vat_rate": products.format_rate(row.vat_rate),
            "unit": row.unit,
            "min_quantity": row.min_quantity,
            "order_multiple": row.order_multiple,
            "active": row.active,
        }
        for row in rows
    ]
    return pd.DataFrame(records, columns=list(products.PRODUCT_FIELDS))


def column_config(vat_options: list[str]) -> dict:
    text = st.column_config.TextColumn
    whole = functools.partial(st.column_config.NumberColumn, min_value=1, step=1, format="%d", default=1)
    return {
        "sku": text(label("sku"), max_chars=products.MAX_SKU_LENGTH, required=True),
        "ean": text(label("ean"), max_chars=14),
        "name": text(label("name"), max_chars=products.MAX_NAME_LENGTH, required=True, width="large"),
        "description": text(label("description"), max_chars=products.MAX_DESCRIPTION_LENGTH),
        "product_group": text(label("product_group"), max_chars=products.MAX_GROUP_LENGTH),
        "list_price": text(label("list_price"), required=True, help=context.t("admin_products.price_help")),
        "vat_rate": st.column_config.SelectboxColumn(
            label("vat_rate"), options=vat_options, required=True, default=vat_options[0] if vat_options else None
        ),
        "unit": text(label("unit"), max_chars=products.MAX_UNIT_LENGTH, default=products.DEFAULT_UNIT),
        "min_quantity": whole(label("min_quantity")),
        "order_multiple": whole(label("order_multiple")),
        "active": st.column_config.CheckboxColumn(label("active"), default=True),
    }


def editor_inputs(state: dict, rows: list[products.AdminProductRow]) -> list[products.ProductInput]:
    """Turn the editor's pending edits into product rows: changed cells of edited rows, and added rows."""
    inputs = []
    for position, changes in sorted(state.get("edited_rows", {}).items()):
        # A cleared cell arrives as None. Passing "" marks it as made empty, not left out.
        values = {name: "" if value is None else value for name, value in changes.items()}
        inputs.append(products.ProductInput(row=int(position) + 1, product_id=rows[int(position)].id, **values))
    for offset, added in enumerate(state.get("added_rows", [])):
        values = {name: value for name, value in added.items() if name in products.PRODUCT_FIELDS}
        inputs.append(products.ProductInput(row=len(rows) + offset + 1, new=True, **values))
    return inputs


def row_title(problem: RowProblem, rows: list[products.AdminProductRow]) -> str:
    if problem.row <= len(rows):
        return context.t("admin_products.row_existing", row=problem.row, sku=rows[problem.row - 1].sku)
    return context.t("admin_products.row_new", row=problem.row)


def save_edits(rows: list[products.AdminProductRow], editor_key: str) -> None:
    inputs = editor_inputs(st.session_state.get(editor_key, {}), rows)
    if not inputs:
        st.info(context.t("admin_products.nothing_to_save"))
        return
    try:
        with context.database.write() as session:
            result = products.save_products(session, inputs, context.user.id, decimal_mark)
    except Problems as error:
        st.session_state[SAVE_PROBLEMS_KEY] = [
            (row_title(problem, rows), label(problem.field), problem_message(problem))
            for problem in error.problems
            if isinstance(problem, RowProblem)
        ]
        return
    except PortalError as error:
        st.error(error_text(context, error))
        return
    flash("success", context.t("admin_products.saved", created=result.created, updated=result.updated))
    reload_editor()
    st.rerun()


def products_tab() -> None:
    st.text_input(
        context.t("admin_products.search"),
        key=SEARCH_KEY,
        placeholder=context.t("admin_products.search_placeholder"),
        on_change=reset_paging,
        max_chars=MAX_SEARCH_LENGTH,
    )
    snapshot = load_snapshot()
    rows = snapshot["rows"]
    st.caption(context.t("admin_products.editor_help"))
    editor_key = f"admin_products_editor_{editor_generation}"
    st.data_editor(
        editor_frame(rows),
        key=editor_key,
        num_rows="add",
        hide_index=True,
        column_config=column_config(snapshot["vat_options"]),
        width="stretch",
    )
    if not rows:
        st.info(context.t("admin_products.none_found"))

    save_column, reload_column, _ = st.columns([1, 1, 4])
    if save_column.button(context.t("admin_products.save"), type="primary", key="admin_products_save"):
        save_edits(rows, editor_key)
    if reload_column.button(context.t("admin_products.discard"), key="admin_products_discard"):
        reload_editor()
        st.rerun()

    problems = st.session_state.get(SAVE_PROBLEMS_KEY)
    if problems:
        st.error(context.t("admin_products.not_saved", count=len(problems)))
        show_problem_table(problems, context.t("admin_products.column_row"))

    cursors = st.session_state.setdefault(CURSORS_KEY, [None])
    previous_column, position_column, next_column = st.columns([1, 2, 1])
    if len(cursors) > 1 and previous_column.button(context.t("paging.previous"), key="admin_products_previous"):
        cursors.pop()
        reload_editor()
        st.rerun()
    position_column.caption(context.t("paging.page", number=len(cursors)))
    if snapshot["next"] is not None and next_column.button(context.t("paging.next"), key="admin_products_next"):
        cursors.append(snapshot["next"])
        reload_editor()
        st.rerun()


# --- Photo -----------------------------------------------------------------------------


def photo_tab() -> None:
    sku = st.text_input(
        context.t("admin_products.photo_sku"), key="admin_products_photo_sku", max_chars=products.MAX_SKU_LENGTH
    )
    if not sku.strip():
        st.caption(context.t("admin_products.photo_help"))
        return
    with context.database.read() as session:
        summary = products.find_product(session, sku)
        thumbnail = products.product_thumbnail(session, summary.id) if summary and summary.has_image else None
    if summary is None:
        st.warning(context.t("admin_products.photo_not_found", sku=escape_markdown(sku.strip())))
        return

    st.text(f"{summary.sku} · {summary.name}")
    if not summary.active:
        st.caption(context.t("admin_products.inactive"))
    if thumbnail:
        st.image(thumbnail, caption=context.t("admin_products.photo_current"))
    else:
        st.caption(context.t("products.no_photo"))

    upload = st.file_uploader(
        context.t("admin_products.photo_upload"),
        type=["jpg", "jpeg", "png", "webp", "gif"],
        key=f"admin_products_photo_{summary.id}_{upload_generation}",
        # The browser then shows the real limit; store_image checks it again on the server.
        max_upload_size=products.MAX_IMAGE_BYTES // (1024 * 1024),
        help=context.t("admin_products.photo_upload_help", maximum=products.MAX_IMAGE_BYTES // (1024 * 1024)),
    )
    upload_column, remove_column, _ = st.columns([1, 1, 4])
    if upload_column.button(
        context.t("admin_products.photo_save"), disabled=upload is None, type="primary", key="admin_products_photo_save"
    ):
        try:
            with context.database.write() as session:
                products.store_image(session, summary.id, upload.getvalue(), context.user.id)
        except PortalError as error:
            st.error(error_text(context, error))
        else:
            flash("success", context.t("admin_products.photo_saved", sku=escape_markdown(summary.sku)))
            clear_uploads()
            st.rerun()
    if thumbnail and remove_column.button(context.t("admin_products.photo_remove"), key="admin_products_photo_remove"):
        with context.database.write() as session:
            products.delete_image(session, summary.id, context.user.id)
        flash("success", context.t("admin_products.photo_removed", sku=escape_markdown(summary.sku)))
        st.rerun()


# --- Import ----------------------------------------------------------------------------


def show_file_info(parsed: imports.ParsedImport) -> None:
    info = parsed.info
    if info.file_format is FileFormat.XLSX:
        st.caption(context.t("admin_products.import_read_excel"))
    else:
        separators = {";": "separator_semicolon", ",": "separator_comma"}
        separator = context.t(f"admin_products.{separators.get(info.delimiter or '', 'separator_tab')}")
        encoding = escape_markdown(info.encoding or "")
        st.caption(context.t("admin_products.import_read_csv", encoding=encoding, separator=separator))
        # The decimal mark is only known once the rows could be read.
        if parsed.rows:
            decimal = "decimal_comma" if info.decimal_mark == "," else "decimal_point"
            st.caption(context.t("admin_products.import_numbers", decimal=context.t(f"admin_products.{decimal}")))
    if info.columns:
        mapped = ", ".join(f"{header} → {label(name)}" for header, name in info.columns.items())
        st.caption(context.t("admin_products.import_columns", columns=escape_markdown(mapped)))
    if info.ignored_columns:
        st.caption(context.t("admin_products.import_ignored", columns=escape_markdown(", ".join(info.ignored_columns))))


def show_problem_table(records: list[tuple[object, str, str]], first_column: str) -> None:
    """Show problems as a table of (row or line, column, message); table cells are never Markdown."""
    headers = [first_column, context.t("admin_products.column_field"), context.t("admin_products.column_problem")]
    st.dataframe(
        pd.DataFrame(records, columns=headers),
        hide_index=True,
        width="stretch",
        column_config={headers[2]: st.column_config.TextColumn(width="large")},
    )


def show_file_problems(problems: list[RowProblem]) -> None:
    records = [(problem.row, label(problem.field), problem_message(problem)) for problem in problems]
    show_problem_table(records, context.t("admin_products.column_line"))


def preview_frame(kind: ImportKind, preview: imports.ImportPreview) -> pd.DataFrame:
    given = set(preview.parsed.info.columns.values()) | {"sku"}
    # Stock rows show the product's name from the database, whether or not the file has one.
    names = [name for name in imports.COLUMNS[kind] if name in given or kind is ImportKind.STOCK]
    records = []
    for row in preview.rows[:PREVIEW_ROWS]:
        status = context.t(f"admin_products.status_{row.status}")
        records.append([row.line, status, *(display(name, row.values.get(name)) for name in names)])
    headers = [context.t("admin_products.column_line"), context.t("admin_products.column_status")]
    return pd.DataFrame(records, columns=[*headers, *(label(name) for name in names)])


def load_import(kind: ImportKind, upload) -> imports.ImportPreview | None:
    """Read and check the uploaded file once per file and kind; show why a file cannot be used."""
    cache_key = (upload.file_id, kind.value)
    cached = st.session_state.get(IMPORT_KEY)
    if cached is not None and cached[0] == cache_key:
        return cached[1]
    try:
        parsed = imports.read_import(kind, upload.name, upload.getvalue())
    except PortalError as error:
        st.error(error_text(context, error))
        return None
    with context.database.read() as session:
        preview = imports.preview_import(session, parsed)
    st.session_state[IMPORT_KEY] = (cache_key, preview)
    return preview


def apply(preview: imports.ImportPreview) -> None:
    bar = st.progress(0.0, text=context.t("admin_products.import_running"))

    def progress(done: int, total: int) -> None:
        bar.progress(
            done / total if total else 1.0, text=context.t("admin_products.import_progress", done=done, total=total)
        )

    try:
        with context.database.write() as session:
            result = imports.apply_import(session, preview.parsed, context.user.id, progress)
    except Problems as error:
        bar.empty()
        st.error(context.t("admin_products.import_failed"))
        show_file_problems([problem for problem in error.problems if isinstance(problem, RowProblem)])
        return
    except PortalError as error:
        bar.empty()
        st.error(error_text(context, error))
        return
    flash(
        "success",
        context.t(
            "admin_products.imported",
            filename=escape_markdown(preview.parsed.info.filename),
            created=result.created,
            updated=result.updated,
            unchanged=result.unchanged,
        ),
    )
    reload_editor()
    clear_uploads()
    st.rerun()


def import_tab() -> None:
    kinds = {kind: context.t(f"import.kind_{kind}") for kind in ImportKind}
    kind = st.radio(
        context.t("admin_products.import_kind"),
        list(kinds),
        format_func=kinds.__getitem__,
        horizontal=True,
        key="admin_products_import_kind",
    )
    st.caption(context.t(f"admin_products.import_help_{kind}"))
    upload = st.file_uploader(
        context.t("admin_products.import_file"),
        type=["csv", "txt", "xlsx", "xls"],
        key=f"admin_products_import_file_{upload_generation}",
        help=context.t("admin_products.import_file_help", maximum=imports.MAX_UPLOAD_BYTES // (1024 * 1024)),
    )
    if upload is None:
        return
    preview = load_import(kind, upload)
    if preview is None:
        return

    show_file_info(preview.parsed)
    counts = st.columns(4)
    for column, status in zip(counts, ("new", "changed", "unchanged", "error"), strict=True):
        column.metric(context.t(f"admin_products.status_{status}"), preview.count(status))
    if preview.new_price_lists:
        st.info(context.t("admin_products.new_price_lists", names=escape_markdown(", ".join(preview.new_price_lists))))
    if preview.problems:
        st.error(context.t("admin_products.import_has_problems", count=len(preview.problems)))
        show_file_problems(preview.problems)
    if preview.rows:
        st.dataframe(preview_frame(kind, preview), hide_index=True, width="stretch")
        if len(preview.rows) > PREVIEW_ROWS:
            st.caption(context.t("admin_products.preview_limited", shown=PREVIEW_ROWS, total=len(preview.rows)))
    if st.button(
        context.t("admin_products.import_apply"),
        disabled=not preview.can_apply,
        type="primary",
        key="admin_products_import_apply",
    ):
        apply(preview)


# --- Export ----------------------------------------------------------------------------


def export_data(kind: ImportKind, file_format: FileFormat) -> bytes:
    # Runs when the button is clicked, on a thread of its own, so it must not use st.*.
    with context.database.snapshot() as session:
        return imports.export_file(session, kind, file_format, language)


def export_tab() -> None:
    st.caption(context.t("admin_products.export_help"))
    today = dt.datetime.now(ZoneInfo(context.request.time_zone)).date()
    for kind in ImportKind:
        st.subheader(context.t(f"import.kind_{kind}"))
        columns = st.columns([1, 1, 6])
        for column, file_format in zip(columns, FileFormat, strict=False):
            column.download_button(
                context.t(f"admin_products.export_{file_format}"),
                data=functools.partial(export_data, kind, file_format),
                file_name=imports.export_filename(kind, file_format, language, today),
                mime=MIME_TYPES[file_format],
                key=f"admin_products_export_{kind}_{file_format}",
                on_click="ignore",
                icon=":material/download:",
            )


# Tabs with a key keep the chosen tab across reruns, and only the open tab's code runs.
sections = {
    context.t("admin_products.tab_products"): products_tab,
    context.t("admin_products.tab_photo"): photo_tab,
    context.t("admin_products.tab_import"): import_tab,
    context.t("admin_products.tab_export"): export_tab,
}
for section, draw in zip(st.tabs(list(sections), key=TAB_KEY, on_change="rerun"), sections.values(), strict=True):
    if section.open:
        with section:
            draw()
