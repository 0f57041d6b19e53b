// A YAML writer for Prometheus rule files, written for people who read them: keys in the
// order Prometheus documents them (record/alert, expr, for, labels, annotations), `expr` as a
// literal block, names and durations plain, every other string double-quoted (JSON escapes are
// valid YAML double-quoted scalars). A rule's hidden `comment::` field becomes comment lines
// above it. std.manifestYamlDoc would sort the keys and quote everything.
local isPlain(s) =
  std.length(s) > 0
  && std.length([c for c in std.stringChars(s)
                  if !std.member('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:/', c)]) == 0
  && !std.member(['true', 'false', 'null', 'yes', 'no', 'on', 'off', '~'], std.asciiLower(s))
  && !std.member('-.', std.stringChars(s)[0])
  // A leading digit only for durations (5m, 1h30m): YAML would read 10 or 1e5 as a number.
  && (!std.member('0123456789', std.stringChars(s)[0])
      || (std.length([c for c in std.stringChars(s) if !std.member('0123456789smhdwy', c)]) == 0
          && std.member('smhdwy', std.stringChars(s)[std.length(s) - 1])));

local scalar(s) = if isPlain(s) then s else std.escapeStringJson(s);

// Each line of text prefixed by `indent`; empty lines stay empty. text ends with "\n".
local indentLines(text, indent) =
  local t = if std.endsWith(text, '\n') then std.substr(text, 0, std.length(text) - 1) else text;
  std.join('', [(if l == '' then '' else indent + l) + '\n' for l in std.split(t, '\n')]);

local comment(text, indent) =
  std.join('', [indent + (if l == '' then '#' else '# ' + l) + '\n'
                for l in std.split(text, '\n')]);

local map(key, obj, indent) =
  if std.length(std.objectFields(obj)) == 0 then ''
  else indent + key + ':\n' + std.join('', [
    indent + '  ' + k + ': ' + (if key == 'annotations' then std.escapeStringJson(obj[k]) else scalar(obj[k])) + '\n'
    for k in std.objectFields(obj)
  ]);

local rule(r, indent) =
  assert std.objectHas(r, 'record') != std.objectHas(r, 'alert') : 'a rule has either record or alert: %s' % r;
  local kind = if std.objectHas(r, 'record') then 'record' else 'alert';
  (if std.objectHasAll(r, 'comment') then comment(r.comment, indent) else '')
  + indent + '- ' + kind + ': ' + scalar(r[kind]) + '\n'
  + indent + '  expr: |\n' + indentLines(r.expr, indent + '    ')
  + (if std.objectHas(r, 'for') then indent + '  for: ' + scalar(r['for']) + '\n' else '')
  + map('labels', std.get(r, 'labels', {}), indent + '  ')
  + map('annotations', std.get(r, 'annotations', {}), indent + '  ');

{
  indentLines:: indentLines,
  comment:: comment,

  // The `groups:` document of a rules file (no header).
  groups(groups)::
    'groups:\n' + std.join('\n', [
      '  - name: ' + scalar(g.name) + '\n'
      + (if std.objectHas(g, 'interval') then '    interval: ' + scalar(g.interval) + '\n' else '')
      + '    rules:\n'
      + std.join('\n', [rule(r, '      ') for r in g.rules])
      for g in groups
    ]),
}
