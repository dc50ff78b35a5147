"""What a load reads: symbolic links out of a walked folder, files named versus found, and the
characters an article id may hold (issue "Hardening", items 6 and 7)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from index.embedding import HashingEmbedder
from index.errors import InputError
from index.ingest import IngestAborted
from index.loaders import LoadResult, Skipped, load_paths, load_records
from rag.service import Newsdesk


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ids(result: LoadResult) -> list[str]:
    return sorted(article.id for article in result.articles)


def messages(result: LoadResult) -> list[str]:
    return [str(error) for error in result.errors]


def leaves(link: Path, target: Path, root: Path) -> Skipped:
    return Skipped(str(link), f"symbolic link to {target} leaves {root}; pass --follow-symlinks to read it")


# --- symbolic links ----------------------------------------------------------------------------


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive folder holding one article, a link to a file outside it, a link to a folder outside
    it, a link to a file inside it, and a link to itself (a loop)."""
    outside = tmp_path / "outside"
    write(outside / "secret.txt", "Secret\nThe private notes of whoever owns this machine.")
    write(outside / "folder" / "hidden-away.txt", "Away\nAn article in a folder outside the archive.")
    root = tmp_path / "archive"
    write(root / "news" / "harbour.txt", "Harbour\nThe harbour reopened on Monday after the storm.")
    (root / "passwd.txt").symlink_to(outside / "secret.txt")
    (root / "elsewhere").symlink_to(outside / "folder", target_is_directory=True)
    (root / "same-story.txt").symlink_to(root / "news" / "harbour.txt")
    (root / "news" / "up").symlink_to("..", target_is_directory=True)
    return root


def test_links_out_of_the_walked_folder_are_skipped_naming_their_target(archive: Path) -> None:
    outside = archive.parent / "outside"
    result = load_paths([archive])
    assert ids(result) == ["harbour"]  # the link inside is followed (and read once); the loop ends
    assert sorted(result.skipped, key=lambda s: s.origin) == [
        leaves(archive / "elsewhere", outside / "folder", archive),
        leaves(archive / "passwd.txt", outside / "secret.txt", archive),
    ]
    assert not result.errors


def test_a_link_to_etc_passwd_is_not_read_as_an_article(tmp_path: Path) -> None:
    if not Path("/etc/passwd").is_file():
        pytest.skip("no /etc/passwd here")
    write(tmp_path / "archive" / "story.txt", "Story\nA story of the archive.")
    (tmp_path / "archive" / "passwd.txt").symlink_to("/etc/passwd")
    result = load_paths([tmp_path / "archive"])
    assert ids(result) == ["story"]
    reason = f"symbolic link to /etc/passwd leaves {tmp_path / 'archive'}; pass --follow-symlinks to read it"
    assert result.skipped == [Skipped(str(tmp_path / "archive" / "passwd.txt"), reason)]


def test_follow_symlinks_reads_what_links_out_of_the_folder_lead_to(archive: Path) -> None:
    result = load_paths([archive], follow_symlinks=True)
    assert ids(result) == ["harbour", "hidden-away", "passwd"]
    assert not result.skipped and not result.errors


def test_following_a_link_to_a_folder_above_the_walked_one_ends(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    write(root / "a.txt", "A\nThe first article.")
    write(tmp_path / "beside.txt", "Beside\nAn article beside the archive.")
    (root / "parent").symlink_to(tmp_path, target_is_directory=True)  # contains the archive itself
    assert load_paths([root]).skipped == [leaves(root / "parent", tmp_path, root)]
    followed = load_paths([root], follow_symlinks=True)
    assert ids(followed) == ["a", "beside"]  # each file once, and the walk ends


def test_a_link_named_itself_is_read_even_when_it_leads_out(archive: Path) -> None:
    named = load_paths([archive / "passwd.txt", archive])
    assert ids(named) == ["harbour", "passwd"]  # naming a path is asking for it; walking a folder is not
    assert sorted(Path(skip.origin).name for skip in named.skipped) == ["elsewhere", "passwd.txt"]


def test_the_server_ingest_never_follows_links_out(tmp_path: Path, archive: Path) -> None:
    """The HTTP upload (and the web UI) ingest by path with the default options, as here."""
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    report = desk.ingest([archive])
    assert report.added == ["harbour"]
    skipped = sorted(Path(skip.origin).name for skip in report.skipped)
    assert skipped == ["elsewhere", "passwd.txt"]
    desk.close()


# --- named files versus files found in a folder ------------------------------------------------


# name: (content, or None for a named pipe; the reason given)
UNREADABLE = {
    "photo.txt": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "binary file"),
    "dump.jsonl": (b'{"text": "x"}\x00\n', "binary file"),
    "report.pdf": (b"%PDF-1.4", "unsupported file type '.pdf'"),
    "README": (b"no suffix", "unsupported file type (no suffix)"),
    "sitemap.xml": (b"<urlset><url/></urlset>", "not an RSS/Atom feed"),
    "pipe.txt": (None, "not a regular file"),
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_a_named_file_that_cannot_be_read_is_an_error_and_skipped_when_found_in_a_folder(
    tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    path = folder / name
    content, reason = UNREADABLE[name]
    if content is None:
        os.mkfifo(path)
    else:
        path.write_bytes(content)
    named = load_paths([path])
    assert (messages(named), named.skipped, named.articles) == ([f"{path}: {reason}"], [], [])
    assert isinstance(named.errors[0], InputError) and named.errors[0].origin == str(path)
    found = load_paths([folder])
    assert (found.skipped, found.errors) == ([Skipped(str(path), reason)], [])


def test_an_ingest_naming_a_corrupt_file_writes_nothing_and_names_it(tmp_path: Path) -> None:
    good = write(tmp_path / "good.txt", "Good\nA readable article.")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01\x02 corrupt")
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    with pytest.raises(IngestAborted, match=f"  {bad}: binary file"):
        desk.ingest([good, bad])
    assert not (tmp_path / "index").exists()
    desk.close()


# --- article ids -------------------------------------------------------------------------------

REFUSED_IDS = [
    ("world/../bridge", "has the path segment '..', which a URL cannot carry"),
    ("./bridge", "has the path segment '.', which a URL cannot carry"),
    ("bell\x07", "contains the control character U+0007 at character 5"),
    ("tab\tin", "contains the control character U+0009 at character 4"),
    ("evil\u202etxt.exe", "contains the format character U+202E RIGHT-TO-LEFT OVERRIDE at character 5"),
    ("zero\u200bwidth", "contains the format character U+200B ZERO WIDTH SPACE at character 5"),
    ("line\u2028break", "contains the line separator character U+2028 LINE SEPARATOR at character 5"),
    (
        "para\u2029break",
        "contains the paragraph separator character U+2029 PARAGRAPH SEPARATOR at character 5",
    ),
]
RULE = (
    "an id may not hold control, format or line/paragraph separator characters, "
    "nor '.' or '..' between slashes"
)


@pytest.mark.parametrize(("value", "what"), REFUSED_IDS)
def test_an_id_given_in_a_record_is_refused_naming_file_line_field_and_value(
    tmp_path: Path, value: str, what: str
) -> None:
    path = tmp_path / "news.jsonl"
    lines = [{"id": "fine", "text": "A fine article."}, {"id": value, "text": "A bad id."}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = load_paths([path])
    assert ids(result) == ["fine"]
    assert messages(result) == [f"{path}:2: field 'id' {what}; {RULE}: {value!r}"]


def test_an_api_record_with_such_an_id_is_refused_by_position_and_field(tmp_path: Path) -> None:
    """POST /api/articles builds its records through load_records, so it refuses them too."""
    result = load_records([{"id": "ok", "text": "Fine."}, {"id": "a/../b", "text": "Dotted."}])
    assert ids(result) == ["ok"]
    assert messages(result) == [
        f"articles[1]: field 'id' has the path segment '..', which a URL cannot carry; {RULE}: 'a/../b'"
    ]
    desk = Newsdesk(tmp_path / "index", embedder=HashingEmbedder())
    with pytest.raises(IngestAborted, match=r"  articles\[0\]: field 'id' contains the format character"):
        desk.ingest_records([{"id": "rtl\u202e", "text": "Reversed."}])
    desk.close()


def test_a_front_matter_id_is_the_users_choice_and_is_refused_too(tmp_path: Path) -> None:
    path = write(tmp_path / "post.md", "---\nid: desk\u202epost\ntitle: Post\n---\nThe body of the post.\n")
    assert messages(load_paths([path])) == [
        f"{path}: field 'id' contains the format character U+202E RIGHT-TO-LEFT OVERRIDE at character 5; "
        f"{RULE}: " + repr("desk\u202epost")
    ]


def test_an_id_with_slashes_is_kept_as_given(tmp_path: Path) -> None:
    """Feeds and many archives use URLs or paths as ids; the API's article routes take them whole."""
    result = load_records([{"id": "world/2015/09/30/bridge", "text": "The bridge opened."}])
    assert ids(result) == ["world/2015/09/30/bridge"] and not result.errors


def test_a_long_bad_id_is_shown_shortened_with_the_position_of_the_bad_character(tmp_path: Path) -> None:
    value = "x" * 200 + "\ty"
    [error] = load_records([{"id": value, "text": "Long."}]).errors
    assert error.reason.startswith("field 'id' contains the control character U+0009 at character 201; ")
    assert error.reason.endswith(": '" + "x" * 75 + "...'")


def test_ids_derived_from_file_names_and_feed_entries_are_made_safe_not_refused(tmp_path: Path) -> None:
    """A file name or a feed's entry id is not an id the user chose: each character an id may not
    hold becomes "_"."""
    folder = tmp_path / "archive"
    write(folder / "bidi\u202eeman.txt", "Bidi\nA file name with a right-to-left override.")
    write(folder / "two\nlines.md", "# Two lines\nA file name with a newline in it.")
    write(folder / "zero\u200bwidth.json", json.dumps({"text": "A JSON object without an id."}))
    write(
        folder / "feed.rss",
        '<rss version="2.0"><channel><title>Wire</title><item><title>Bridge</title>'
        "<guid>https://wire.example/2015/bridge</guid><description>The bridge opened.</description>"
        "</item></channel></rss>",
    )
    result = load_paths([folder])
    assert not result.errors and not result.skipped
    assert ids(result) == ["bidi_eman", "https://wire.example/2015/bridge", "two_lines", "zero_width"]
