"""One reader of AVA label maps (``stmixer_mm.datasets.label_map``), and
the check that mmaction2's ``read_labelmap`` (AVADataset, AVAMetric)
reads a data set's label map the same way; AVA's own label maps ship with
the package (``stmixer_mm::NAME``)."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from stmixer_mm.apis import load_label_map
from stmixer_mm.apis.package_files import package_dir
from stmixer_mm.apps.importers import read_label_map
from stmixer_mm.datasets import check_ava_label_file
from stmixer_mm.datasets.label_map import (PACKAGED_DIR,
                                           check_mmaction2_reads_label_map,
                                           read_pbtxt_label_map)
from stmixer_mm.testing import repo_root
from stmixer_mm.visualization.labels import load_label_names

TWO_SPACE = 'label {\n  name: "stand"\n  label_id: 1\n}\n'
ONE_LINE = 'label { name: "walk" label_id: 2 }\n'


def test_every_reader_gives_the_same_names(tmp_path):
    path = tmp_path / 'map.pbtxt'
    path.write_text(TWO_SPACE + 'item {\n  name: "walk"\n  id: 2\n}\n')
    names = {1: 'stand', 2: 'walk'}
    assert read_pbtxt_label_map(str(path)) == names
    assert check_mmaction2_reads_label_map(str(path)) == names
    assert load_label_map(str(path)) == names
    assert load_label_names(str(path)) == names
    assert read_label_map(str(path)) == {'stand': 1, 'walk': 2}
    assert check_ava_label_file(str(path)) == [1, 2]


def test_an_entry_mmaction2_would_skip_is_refused_for_the_data_sets(tmp_path):
    """A one-line entry is read by the project's reader (names for the
    demo, the converter), but mmaction2's read_labelmap skips it, so an
    AVA data set (and AVAMetric) would have silently lost the class:
    the data set's check names the entry."""
    path = tmp_path / 'mixed.pbtxt'
    path.write_text(TWO_SPACE + ONE_LINE)
    assert read_pbtxt_label_map(str(path)) == {1: 'stand', 2: 'walk'}
    with pytest.raises(
            ValueError,
            match=r"entry 2 \(line 5, label_id 2 'walk'\): mmaction2's "
            'read_labelmap skips it'):
        check_mmaction2_reads_label_map(str(path))
    with pytest.raises(ValueError, match='entry 2 .*skips it'):
        check_ava_label_file(str(path))
    # four spaces: read_labelmap skips the lines, the next entry would
    # take the name of the one before
    four = tmp_path / 'four.pbtxt'
    four.write_text('label {\n    name: "sit"\n  label_id: 1\n}\n' +
                    TWO_SPACE.replace('1', '2'))
    with pytest.raises(ValueError, match="entry 1 .*reads it as"):
        check_mmaction2_reads_label_map(str(four))


@pytest.mark.parametrize('text,message', [
    ('', 'is empty'),
    ('no entries here\n', 'has no `label'),
    ('label {\n  label_id: 1\n}\n', r'entry 1 \(line 1\): needs both'),
    ('label {\n  name: "a"\n  label_id: x\n}\n', "label_id 'x' is not an"),
    (TWO_SPACE + TWO_SPACE.replace('stand', 'sit'),
     "entry 2 .*label_id 1 given twice \\('stand' and 'sit'\\)"),
])
def test_bad_label_maps_are_named(tmp_path, text, message):
    path = tmp_path / 'bad.pbtxt'
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_pbtxt_label_map(str(path))
    with pytest.raises(ValueError, match='no such file'):
        read_pbtxt_label_map(str(tmp_path / 'none.pbtxt'))


@pytest.mark.parametrize(
    'text,message',
    [
        ('label {\n  name: ""\n  label_id: 1\n}\n',
         r'entry 1 \(line 1\): name on line 2 is empty \(""\)'),
        (TWO_SPACE + 'label {\n  name: "  "  # blank\n  label_id: 2\n}\n',
         r'entry 2 \(line 5\): name on line 6 is empty'),
        ('item { display_name: "" id: 1 }\n',
         r'entry 1 \(line 1\): display_name on line 1 is empty'),
        ('label {\n  name: "a"\n  name: "b"\n  label_id: 1\n}\n',
         r'entry 1 \(line 1\): name on line 3 after name on line 2'),
        ('label {\n  name: "a"\n  id: 2\n  label_id: 1\n}\n',
         r'label_id on line 4 after id on line 3'),
        ('label {\n  label_name: "a"\n  label_id: 1\n}\n',
         r'entry 1 \(line 1\): needs both name: "..." and label_id: N '
         r'\(fields given: label_id, label_name\)'),
        ('label {\n  name: stand\n  label_id: 1\n}\n',
         r"name 'stand' on line 2 is not a quoted string"),
        ('label {\n  name: "a\n  label_id: 1\n}\n',
         r"entry 1 \(line 1\), line 2: unexpected 'name: \"a'"),
        # an entry whose `}` is missing (or commented out): not dropped
        ('label {\n  name: "a"\n  label_id: 1\n# }\n' +
         TWO_SPACE.replace('1', '2'), r"line 1: unexpected 'label \{'"),
        (TWO_SPACE + '  name: "stray"\n',
         r"line 5: unexpected 'name: \"stray\"'"),
    ])
def test_bad_entries_are_named_by_line(tmp_path, text, message):
    path = tmp_path / 'bad.pbtxt'
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as e:
        load_label_map(str(path))
    assert str(path) in str(e.value)
    # the data sets' check refuses it too (a layout mmaction2 cannot read
    # in its own words)
    with pytest.raises(ValueError) as e:
        check_ava_label_file(str(path))
    assert str(path) in str(e.value)


COMMENTED = ('# AVA-style label map\n'
             '# item {\n'
             '#   name: "old"\n'
             '#   id: 1\n'
             '# }\n'
             'item {\n'
             '  # name: "sit"\n'
             '  name: "stand # not a comment"  # the live one\n'
             '  id: 1\n'
             '}\n'
             'item: {\n'
             '  name: "walk"\n'
             '#  name: "run"\n'
             '  id: 2\n'
             '  label_type: PERSON_MOVEMENT  # read by none\n'
             '}  # end\n')


def test_comments_are_not_read(tmp_path):
    """``#`` to the end of the line is a comment (outside quoted strings),
    as in protobuf text format: a commented-out name or entry is not read,
    and every reader (mmaction2's included) gives the live values."""
    path = tmp_path / 'commented.pbtxt'
    path.write_text(COMMENTED)
    names = {1: 'stand # not a comment', 2: 'walk'}
    assert read_pbtxt_label_map(str(path)) == names
    assert check_mmaction2_reads_label_map(str(path)) == names
    assert load_label_map(str(path)) == names
    assert load_label_names(str(path)) == names
    assert read_label_map(str(path)) == {v: k for k, v in names.items()}
    assert check_ava_label_file(str(path)) == [1, 2]
    # the lines named are the file's, the comments counted
    bad = tmp_path / 'bad.pbtxt'
    bad.write_text(COMMENTED.replace('"walk"', '""'))
    with pytest.raises(
            ValueError, match=r'entry 2 \(line 11\): name on line 12 is '
            'empty'):
        read_pbtxt_label_map(str(bad))


AVA80 = 'stmixer_mm::ava_action_list_v2.2.pbtxt'
AVA60 = 'stmixer_mm::ava_action_list_v2.2_for_activitynet_2019.pbtxt'


def test_shipped_ava_label_maps_read_the_same_everywhere():
    full = read_pbtxt_label_map(AVA80)
    assert list(full) == list(range(1, 81)) and len(set(full.values())) == 80
    assert (full[1], full[2], full[17], full[64],
            full[80]) == ('bend/bow (at the waist)', 'crawl',
                          'carry/hold (an object)', 'fight/hit (a person)',
                          'watch (a person)')
    evaluated = read_pbtxt_label_map(AVA60)
    assert len(evaluated) == 60 and 2 not in evaluated and 80 in evaluated
    assert all(full[i] == name for i, name in evaluated.items())
    for path, names in ((AVA80, full), (AVA60, evaluated)):
        # mmaction2's read_labelmap (AVADataset, AVAMetric) reads them so
        assert check_mmaction2_reads_label_map(path) == names
        assert load_label_map(path) == names
        assert load_label_names(path) == names
    # inside the package: found from an installed copy as from a checkout
    assert osp.dirname(PACKAGED_DIR) == osp.join(package_dir(), 'datasets')


def test_an_unshipped_package_label_map_is_named():
    with pytest.raises(
            ValueError,
            match=r"stmixer_mm::ava\.pbtxt: stmixer_mm ships no label map "
            r"'ava\.pbtxt' \(in .*label_maps: ava_action_list_v2\.2\.pbtxt, "):
        load_label_map('stmixer_mm::ava.pbtxt')


def test_the_label_maps_ship_in_the_wheel(tmp_path):
    """``setup.py egg_info`` lists what a wheel or sdist packs (MANIFEST.in
    with ``include_package_data``)."""
    subprocess.run([
        sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base',
        str(tmp_path)
    ],
                   cwd=repo_root(),
                   check=True,
                   capture_output=True)
    with open(tmp_path / 'stmixer_mm.egg-info' / 'SOURCES.txt') as f:
        sources = set(f.read().split())
    shipped = sorted(os.listdir(PACKAGED_DIR))
    assert len(shipped) == 2
    for name in shipped:
        assert f'stmixer_mm/datasets/label_maps/{name}' in sources


@pytest.mark.parametrize('text,message', [
    (TWO_SPACE + TWO_SPACE.replace('1', '2'),
     r"entry 2 \(line 5\): name 'stand' given twice \(label_id 1 and 2\)"),
    ('item {\n  name: "a"\n  id: -3\n}\n',
     r'entry 1 \(line 1\): id must be an integer >= 0 .*got -3'),
    ('item {\n  name: "/m/01"\n  id: 1\n  display_name: "a"\n}\n',
     r'entry 1 \(line 1\): both name \("/m/01"\) and display_name \("a"\): '
     'the TensorFlow object-detection form'),
])
def test_what_ava_label_maps_never_hold_is_refused(tmp_path, text, message):
    """A name under two ids, a negative id, and the TensorFlow
    object-detection form (whose name is a machine id) are refused by every
    reader, naming the entry (id 0, mmaction2's background column, is
    refused where the map meets the model or the data: the tests
    ``test_zero_based_label_map*`` and
    ``test_ava22_label_map_may_leave_unlisted_ids``)."""
    path = tmp_path / 'bad.pbtxt'
    path.write_text(text)
    for read in (read_pbtxt_label_map, load_label_map, check_ava_label_file):
        with pytest.raises(ValueError, match=message):
            read(str(path))


def test_a_byte_order_mark_is_read_as_text_start(tmp_path):
    """A UTF-8 byte-order mark (Windows editors write one) is not read as a
    character of the first entry; every reader gives the names."""
    path = tmp_path / 'bom.pbtxt'
    path.write_bytes(b'\xef\xbb\xbf' + (
        TWO_SPACE +
        TWO_SPACE.replace('stand', 'walk').replace('1', '2')).encode())
    names = {1: 'stand', 2: 'walk'}
    assert read_pbtxt_label_map(str(path)) == names
    assert check_mmaction2_reads_label_map(str(path)) == names
    assert load_label_names(str(path)) == names
    assert check_ava_label_file(str(path)) == [1, 2]


def test_refusals_name_both_entry_forms(tmp_path):
    path = tmp_path / 'stray.pbtxt'
    path.write_text(TWO_SPACE + 'labels: 3\n')
    with pytest.raises(ValueError) as e:
        read_pbtxt_label_map(str(path))
    assert 'label { name: "..." label_id: N }` or `item { name: ' \
        '"..." id: N }' in str(e.value)


@pytest.mark.parametrize('field, message', [
    ('label_id: +1', "label_id '\\+1' is not an integer"),
    ('label_id: 01', "label_id '01' is not an integer"),
    ('label_id: 1_0', "label_id '1_0' is not an integer"),
    ('label_id: \u0661', 'is not an integer'),
])
def test_ids_are_plain_decimal_integers(tmp_path, field, message):
    """int() takes '+1', '1_0' and other scripts' digits, protobuf reads a
    leading 0 as octal: only plain decimal ids are read."""
    path = tmp_path / 'bad.pbtxt'
    path.write_text(
        f'label {{\n  name: "a"\n  {field}\n}}\n', encoding='utf-8')
    with pytest.raises(ValueError, match=message):
        read_pbtxt_label_map(str(path))


@pytest.mark.parametrize('second, message', [
    ('Stand', "name 'Stand' given twice \\(label_id 1 and 2\\)"),
    (' stand', "name ' stand' starts or ends with a space"),
    ('stand ', 'starts or ends with a space'),
])
def test_names_that_differ_only_by_case_or_spaces_are_refused(
        tmp_path, second, message):
    path = tmp_path / 'bad.pbtxt'
    path.write_text(TWO_SPACE + f'label {{\n  name: "{second}"\n  '
                    'label_id: 2\n}\n')
    with pytest.raises(ValueError, match=message):
        read_pbtxt_label_map(str(path))


@pytest.mark.parametrize('encoding, message', [
    ('utf-16', 'it is UTF-16: save it as UTF-8'),
    ('utf-32', 'it is UTF-32: save it as UTF-8'),
    ('utf-16-le', 'holds NUL bytes'),
])
def test_other_encodings_are_named(tmp_path, encoding, message):
    path = tmp_path / 'wide.pbtxt'
    path.write_bytes(TWO_SPACE.encode(encoding))
    with pytest.raises(ValueError, match=message):
        read_pbtxt_label_map(str(path))
