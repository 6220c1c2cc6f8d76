"""Streamlit helpers: the only modules besides pages/ and Home.py that import streamlit."""
