#!/usr/bin/env python3
"""Generate the Graphite pickle fixtures read by tests/unit/test_pickle.c.

Run from anywhere: python3 tests/data/pickle/gen.py
It rewrites every *.pickle file here and expected.txt, and copies a few small frames into
tests/fuzz/corpus/pickle/ as fuzzing seeds.

Each *.pickle file is one frame payload (the bytes after carbon's 4-byte length). Frames that
cairn must accept are unpickled here with Python's own pickle module and walked the way
src/proto/pickle.c documents (carbon's MetricPickleReceiver plus go-carbon's multi-point form),
so the expected points come from Python's float(), not from the decoder under test.

expected.txt, one block per frame:
    frame <file> <OK|PROTO|LIMIT> <skipped> <npoints> <nlisted>
    point <name hex, '-' if empty> <ts as 16 hex digits of the IEEE double> <value likewise>
The test checks that point i equals listed point i % nlisted (nlisted < npoints only for the
memo fan-out frame, where every point is the same shared entry).
"""
import os
import pickle
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, '..', '..', 'fuzz', 'corpus', 'pickle')

frames = []  # (file, bytes, status, expected-or-None)


def to_float(x):
    if isinstance(x, (bool, int, float, str, bytes)):
        return float(x)
    raise TypeError(type(x).__name__)


def walk(obj):
    """(skipped, points) for an unpickled object, as the decoder's walk defines it."""
    assert isinstance(obj, (list, tuple))
    skipped = 0
    points = []
    for e in obj:
        if not isinstance(e, (list, tuple)) or len(e) < 2 or not isinstance(e[0], (str, bytes)):
            skipped += 1
            continue
        name = e[0].encode('utf-8', 'surrogatepass') if isinstance(e[0], str) else e[0]
        for pt in e[1:]:
            if not isinstance(pt, (list, tuple)) or len(pt) != 2:
                skipped += 1
                continue
            try:
                ts, v = to_float(pt[0]), to_float(pt[1])
            except (ValueError, TypeError, OverflowError):
                skipped += 1
                continue
            points.append((name, ts, v))
    return skipped, points


def ok(name, data, listed=None):
    obj = pickle.loads(data, encoding='bytes')
    skipped, points = walk(obj)
    frames.append((name, data, 'OK', (skipped, points, listed)))


def bad(name, data, status):
    frames.append((name, data, status, None))


# ---- accepted: Python's own pickles, protocols 0-5 ------------------------------------------

SHARED_NAME = 'servers.web01.cpu.user'
SHARED_PT = (1500000100, 7.0)
DATA = [
    ('a.b', (1500000000, 1.5)),
    ('c.d', [1500000001, 2]),
    ['e.f', (1500000002.5, '3.25')],
    ('uni.\u00f1.\u540d.\U0001f600', (1500000003, -0.0)),
    (SHARED_NAME, (1500000004, 10**30)),
    (SHARED_NAME, (5000000000, -(2**70) + 1)),
    (SHARED_NAME, (1500000006, 2**63)),
    (SHARED_NAME, (1500000007, -2**63)),
    ('big.exact', (1500000008, 2**53 + 1)),
    ('big.sticky', (1500000009, ((2**64 + 2**11 + 1) << 10))),
    ('big.max', (1500000010, 2**1024 - 2**970 - 1)),
    ('bool', (True, False)),
    ('str.numbers', ('1500000011', ' 2e3 ')),
    ('inf', (1500000012, float('inf'))),
    ('nan', (1500000013, float('nan'))),
    ('neg', (-1, -2.5)),
    ('shared.x', SHARED_PT),
    ('shared.y', SHARED_PT),
    ('bad.none', (None, 1)),
    ('bad.str', (1, 'abc')),
    ('bad.overflow', (1, 2**1024)),
    ('bad.rounds.to.overflow', (1, 2**1024 - 2**970)),
    ('bad.shape', (1, 2, 3)),
    'bad.element',
    ('bad.short',),
    (42, (1, 2)),
    ('multi', (1, 2), (3, 4)),
    ('multi.bad', (1, 2), None),
    ('dict.inside', {'k': 1, 'j': [2]}),
]
for proto in range(0, 6):
    ok('data_p%d.pickle' % proto, pickle.dumps(DATA, protocol=proto))
    ok('tuple_top_p%d.pickle' % proto, pickle.dumps(tuple(DATA[:3]), protocol=proto))

for proto in (3, 4, 5):
    ok('bytes_names_p%d.pickle' % proto,
       pickle.dumps([(b'bytes.name', (1500000000, 1)), (b'x' * 300, (1, b'2.5'))], protocol=proto))

ok('sets_p4.pickle', pickle.dumps([('a', (1, 2)), ('set', {1, 2}), ('fs', frozenset([3]))], 4))
ok('empty_p2.pickle', pickle.dumps([], 2))
ok('empty_tuple_p0.pickle', pickle.dumps((), 0))

MANY = [('h%04d.m%d' % (i, i % 7), (1500000000 + i, i * 0.25)) for i in range(3000)]
for proto in (1, 2, 4):
    ok('many_p%d.pickle' % proto, pickle.dumps(MANY[:3000 if proto == 4 else 300], protocol=proto))
assert pickle.dumps(MANY, 4).count(b'\x95') >= 2  # several FRAMEs

# Byte examples from graphite.md §4.3, which must be what Python produces.
DOC2 = (b'\x80\x02]q\x00X\x03\x00\x00\x00a.bq\x01J\x00/hYG?\xf8\x00\x00\x00\x00\x00\x00'
        b'\x86q\x02\x86q\x03a.')
DOC0 = b'(lp0\n(Va.b\np1\n(I1500000000\nF1.5\ntp2\ntp3\na.'
assert pickle.dumps([('a.b', (1500000000, 1.5))], protocol=2) == DOC2
assert pickle.dumps([('a.b', (1500000000, 1.5))], protocol=0) == DOC0
ok('doc_p2.pickle', DOC2)
ok('doc_p0.pickle', DOC0)

# ---- accepted: hand-written frames as other senders write them --------------------------------

# JMeter PickleGraphiteMetricsSender (and Dropwizard-derived Java senders): protocol 0, long ts,
# value as a string.
ok('jmeter.pickle', b"(l(S'a.b'\n(L1500000000L\nS'1.5'\ntta.")
# Python 2 style protocol 0: str names as quoted reprs with escapes, memo PUT/GET.
ok('py2_p0.pickle',
   b"(lp0\n(S'a\\x2eb\\'c\\\\d'\np1\n(I1500000000\nF1.5\ntp2\ntp3\na"
   b"(S\"tab\\there\\101\"\np4\n(L1500000001L\nI01\ntp5\ntp6\na"
   b"(g1\n(I1500000002\nS'  42 '\ntp7\ntp8\na.")
# Python 2 carbon-relay style protocol 2: SHORT_BINSTRING/BINSTRING names, BININT1/2, LONG1.
ok('py2_p2.pickle',
   b"\x80\x02]q\x00(U\x03a.bq\x01J\x00/hYG?\xf8\x00\x00\x00\x00\x00\x00\x86q\x02\x86q\x03"
   b"T\x03\x00\x00\x00c.dq\x04K\x07M\x00\x01\x86\x86"
   b"h\x01\x8a\x05\x00\xf2\x05*\x01\x8a\x02\xff\x7f\x86\x86e.")
# Raw-unicode-escape corner cases: an even backslash run is literal, a lone surrogate passes.
ok('unicode_escapes_p0.pickle',
   b"(l(V\\\\u0041\\u00e9\xe9\\ud800z\n(I1\nI2\ntta.")
# Memo fan-out: one entry object fetched 100000 times into the top list (shared, not copied).
ok('memo_fanout.pickle',
   b"\x80\x02]q\x00X\x03\x00\x00\x00a.bK\x01K\x02\x86\x86q\x01\x940(" + b"h\x01" * 100000 + b"e.",
   listed=1)
# POP on an empty segment pops the MARK (CPython), POP_MARK, DUP, FRAME, MEMOIZE, EMPTY_DICT.
ok('misc_ops.pickle',
   b"\x80\x04\x95" + b"\x00" * 8 + b"]\x94(0(NN1\x8c\x01a\x94K\x01K\x02\x86\x86\x94"
   b"20a}(K\x01K\x02u0h\x02ah\x01K\x03K\x04\x86)\x87a(h\x02e.")

# ---- rejected -------------------------------------------------------------------------------


class Evil:
    def __reduce__(self):
        return (os.system, ('true',))


for proto in (0, 2, 4):
    bad('evil_reduce_p%d.pickle' % proto,
        pickle.dumps([('a.b', (1, 2)), Evil()], protocol=proto), 'PROTO')
bad('bytes_names_p2.pickle', pickle.dumps([(b'a.b', (1, 2))], protocol=2), 'PROTO')

HEAD = b"\x80\x02](X\x01\x00\x00\x00aK\x01K\x02\x86\x86"  # a valid entry before the attack
bad('op_global.pickle', b"(lcos\nsystem\n(S'true'\ntR.", 'PROTO')
bad('op_reduce.pickle', HEAD + b"N)R.", 'PROTO')
bad('op_build.pickle', HEAD + b"]}b.", 'PROTO')
bad('op_inst.pickle', b"(l(S'true'\nios\nsystem\n.", 'PROTO')
bad('op_obj.pickle', HEAD + b"(No.", 'PROTO')
bad('op_newobj.pickle', HEAD + b"N)\x81.", 'PROTO')
bad('op_newobj_ex.pickle', HEAD + b"N)}\x92.", 'PROTO')
bad('op_stack_global.pickle', HEAD + b"\x8c\x02os\x8c\x06system\x93.", 'PROTO')
bad('op_ext1.pickle', HEAD + b"\x82\x01.", 'PROTO')
bad('op_ext2.pickle', HEAD + b"\x83\x01\x00.", 'PROTO')
bad('op_ext4.pickle', HEAD + b"\x84\x01\x00\x00\x00.", 'PROTO')
bad('op_persid.pickle', HEAD + b"Pfoo\n.", 'PROTO')
bad('op_binpersid.pickle', HEAD + b"NQ.", 'PROTO')
bad('op_bytearray8.pickle', HEAD + b"\x96\x01\x00\x00\x00\x00\x00\x00\x00x.", 'PROTO')
bad('op_next_buffer.pickle', HEAD + b"\x97.", 'PROTO')
bad('op_readonly_buffer.pickle', HEAD + b"N\x98.", 'PROTO')
bad('op_unknown.pickle', HEAD + b"\xff.", 'PROTO')
bad('proto6.pickle', b"\x80\x06].", 'PROTO')

bad('deep_marks.pickle', b"(" * 100000 + b".", 'LIMIT')
bad('deep_lists.pickle', b"]" * 100000 + b"a" * 99999 + b".", 'LIMIT')
bad('deep_tuples.pickle', b")" + b"\x85" * 100000 + b".", 'LIMIT')
bad('memo_self_append.pickle', b"]q\x00" + b"h\x00a" * 10000 + b".", 'LIMIT')
bad('memo_amplify.pickle',
    b"\x80\x02]q\x00(X\x01\x00\x00\x00aK\x01K\x02\x86q\x01" + b"h\x01" * 2000 + b"tq\x020("
    + b"h\x02" * 20000 + b"e.", 'LIMIT')
bad('memo_missing.pickle', b"\x80\x02]h\x05a.", 'PROTO')
bad('memo_get_empty.pickle', b"(lg0\na.", 'PROTO')

bad('binunicode_4g.pickle', b"\x80\x02]X\xff\xff\xff\xffa.b", 'PROTO')
bad('binunicode8_huge.pickle', b"\x80\x04]\x8d" + b"\xff" * 8 + b"a.b", 'PROTO')
bad('binbytes_4g.pickle', b"\x80\x03]B\x00\x00\x00\xf0a.b", 'PROTO')
bad('binstring_negative.pickle', b"\x80\x02]T\xff\xff\xff\xffa.", 'PROTO')
bad('long4_huge.pickle', b"\x80\x02]\x8b\xff\xff\xff\x7fa.", 'PROTO')
bad('frame_huge.pickle', b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xff].", 'PROTO')

bad('truncated.pickle', DOC2[:-1], 'PROTO')
bad('truncated_arg.pickle', DOC2[:20], 'PROTO')
bad('trailing.pickle', DOC2 + b".", 'PROTO')
bad('empty.pickle', b"", 'PROTO')
bad('stop_only.pickle', b".", 'PROTO')
bad('top_dict.pickle', pickle.dumps({'a.b': (1, 2)}, 2), 'PROTO')
bad('top_int.pickle', pickle.dumps(5, 2), 'PROTO')
bad('top_str.pickle', pickle.dumps('a.b', 0), 'PROTO')
bad('string_unquoted.pickle', b"(lS'a.b\na.", 'PROTO')
bad('string_bad_hex.pickle', b"(l(S'a\\x4'\n(I1\nI2\ntta.", 'PROTO')
bad('unicode_bad_escape.pickle', b"(l(Va\\u12\n(I1\nI2\ntta.", 'PROTO')
bad('append_to_tuple.pickle', b"\x80\x02)K\x01a.", 'PROTO')
bad('odd_dict.pickle', b"(K\x01d.", 'PROTO')
bad('pop_underflow.pickle', b"0.", 'PROTO')


def main():
    for f in os.listdir(HERE):
        if f.endswith('.pickle'):
            os.remove(os.path.join(HERE, f))
    out = []
    for name, data, status, exp in frames:
        with open(os.path.join(HERE, name), 'wb') as fh:
            fh.write(data)
        if exp is None:
            out.append('frame %s %s 0 0 0' % (name, status))
            continue
        skipped, points, listed = exp
        listed = len(points) if listed is None else listed
        out.append('frame %s OK %d %d %d' % (name, skipped, len(points), listed))
        for nm, ts, v in points[:listed]:
            out.append('point %s %s %s' % (nm.hex() or '-', struct.pack('>d', ts).hex(),
                                           struct.pack('>d', v).hex()))
    with open(os.path.join(HERE, 'expected.txt'), 'w') as fh:
        fh.write('# generated by gen.py: frame <file> <status> <skipped> <npoints> <nlisted>\n')
        fh.write('\n'.join(out) + '\n')
    os.makedirs(CORPUS, exist_ok=True)
    for f in ('doc_p0.pickle', 'doc_p2.pickle', 'data_p0.pickle', 'data_p2.pickle',
              'data_p5.pickle', 'jmeter.pickle', 'py2_p0.pickle', 'py2_p2.pickle',
              'misc_ops.pickle', 'sets_p4.pickle', 'unicode_escapes_p0.pickle',
              'evil_reduce_p2.pickle', 'op_stack_global.pickle', 'binunicode_4g.pickle'):
        shutil.copy(os.path.join(HERE, f), os.path.join(CORPUS, f))


if __name__ == '__main__':
    main()
