"""`nestioc lsp` against a real LSP client (pytest-lsp + pygls), with Neovim's capabilities.

Run by tests/it/lsp.rs (`lsp_client`), which sets NESTIOC_BIN to the binary under test:

    NESTIOC_BIN=target/debug/nestioc .venv-validators/bin/python -m pytest tests/lsp

The scenario: open a project with an error, receive the diagnostic at the right range
(UTF-16 columns after non-ASCII text), fix it and see it cleared, go to a definition in
another file, complete a service name, format a document, apply the quick fix.
"""

import os
import pathlib
import shutil

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

PROJECT = pathlib.Path(__file__).parent / "project"


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[os.environ["NESTIOC_BIN"], "lsp"]),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("neovim"))
    )
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def project(tmp_path):
    dest = tmp_path / "shop"
    shutil.copytree(PROJECT, dest)
    return dest


def open_doc(client: LanguageClient, path: pathlib.Path) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="kdl", version=1, text=path.read_text()
            )
        )
    )
    return uri


def change(client: LanguageClient, uri: str, text: str, version: int):
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def test_diagnostics_appear_and_clear(client: LanguageClient, project):
    checkout = project / "services" / "checkout.kdl"
    uri = open_doc(client, checkout)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    (diag,) = client.diagnostics[uri]
    assert diag.code == "NST0201"
    assert diag.severity == types.DiagnosticSeverity.Error
    assert "did you mean `payments`?" in diag.message
    # `    depends-on /* für 💳 */ "paymnets"`: UTF-16 column 28, not byte 31.
    assert diag.range == types.Range(
        start=types.Position(line=3, character=28), end=types.Position(line=3, character=38)
    )

    change(client, uri, checkout.read_text().replace("paymnets", "payments"), 2)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert len(client.diagnostics[uri]) == 0


async def test_navigation_completion_formatting_and_fixes(client: LanguageClient, project):
    checkout = project / "services" / "checkout.kdl"
    payments = project / "services" / "payments.kdl"
    uri = open_doc(client, checkout)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    here = types.TextDocumentIdentifier(uri=uri)
    on_typo = types.Position(line=3, character=30)

    # The quick fix for "did you mean".
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=here,
            range=types.Range(start=on_typo, end=on_typo),
            context=types.CodeActionContext(diagnostics=client.diagnostics[uri]),
        )
    )
    assert actions[0].title == "Replace with `payments`"
    (edit,) = actions[0].edit.changes[uri]
    assert edit.new_text == '"payments"'

    fixed = checkout.read_text().replace("paymnets", "payments")
    change(client, uri, fixed, 2)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

    # Go to the callee's declaration, in another file.
    result = await client.text_document_definition_async(
        types.DefinitionParams(text_document=here, position=on_typo)
    )
    assert result.uri == payments.as_uri()
    assert result.range.start == types.Position(line=0, character=8)

    # Hover shows the callee's ports, SLOs and owner.
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=here, position=on_typo)
    )
    assert "owner: payments-team" in hover.contents.value
    assert "SLO availability: 99.95%" in hover.contents.value

    # Complete a service name in a new `depends-on`.
    partial = fixed.replace('    slo "availability"', '    depends-on "\n    slo "availability"', 1)
    change(client, uri, partial, 3)
    line = partial.splitlines().index('    depends-on "')
    items = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=here, position=types.Position(line=line, character=16)
        )
    )
    labels = {i.label for i in items}
    assert {"payments", "inventory"} <= labels

    # Format a sloppy version back to the canonical text.
    change(client, uri, fixed.replace("    owner", "  owner"), 4)
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=here, options=types.FormattingOptions(tab_size=4, insert_spaces=True)
        )
    )
    assert edits[0].new_text == fixed
