/**
 * The LabDojo schema and a generator of realistic content: words, names, JSON progress,
 * not trivially compressible. `--scale 1` is about 1 GB on disk.
 */

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS users (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  display_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz,
  status text NOT NULL DEFAULT 'active'
);
CREATE TABLE IF NOT EXISTS auth_credentials (
  user_id bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  password_hash text NOT NULL,
  mfa_secret text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS courses (
  id bigserial PRIMARY KEY,
  slug text NOT NULL UNIQUE,
  title text NOT NULL,
  description text NOT NULL,
  level text NOT NULL,
  published_at timestamptz
);
CREATE TABLE IF NOT EXISTS course_content (
  id bigserial PRIMARY KEY,
  course_id bigint NOT NULL REFERENCES courses(id),
  position int NOT NULL,
  title text NOT NULL,
  body text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS user_progress (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users(id),
  course_id bigint NOT NULL REFERENCES courses(id),
  progress_data jsonb NOT NULL,
  achievements text[] NOT NULL DEFAULT '{}',
  favorites bigint[] NOT NULL DEFAULT '{}',
  last_updated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS user_progress_user ON user_progress(user_id);
CREATE TABLE IF NOT EXISTS preferences (
  user_id bigint PRIMARY KEY REFERENCES users(id),
  settings jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS analytics_events (
  id bigserial PRIMARY KEY,
  user_id bigint,
  event_type text NOT NULL,
  properties jsonb NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now()
);
-- the drill's ledger: every commit the workload writer got acknowledged
CREATE TABLE IF NOT EXISTS drill_ledger (
  writer text NOT NULL,
  seq bigint NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  payload text NOT NULL,
  PRIMARY KEY (writer, seq)
);
`

const WORDS = `learn lesson module quiz practice python javascript rust database index query function variable loop
array object network security cloud container deploy kubernetes docker terminal shell script algorithm sorting graph tree
recursion memory pointer thread async promise await stream buffer cache latency throughput backup restore replica primary
standby failover archive checkpoint transaction commit rollback schema table column constraint foreign key unique json
lab exercise hint solution challenge badge streak level beginner intermediate advanced project review feedback mentor
student course chapter section video reading notes bookmark favorite progress score attempt complete start resume pause`.split(
  /\s+/,
)

export interface Counts {
  users: number
  courses: number
  contentPerCourse: number
  progressPerUser: number
  eventsPerUser: number
}

export function countsFor(scale: number): Counts {
  return {
    users: Math.max(200, Math.round(200_000 * scale)),
    courses: Math.max(10, Math.round(1_000 * Math.sqrt(scale))),
    contentPerCourse: 12,
    progressPerUser: 5,
    eventsPerUser: 8,
  }
}

const words = `ARRAY[${WORDS.map((w) => `'${w}'`).join(',')}]`
/** SQL for `n` random words (evaluated per row thanks to the correlated reference to `seed`). */
const sentence = (n: string, seed: string) =>
  `(SELECT string_agg((${words})[1 + floor(random() * ${WORDS.length})::int], ' ') FROM generate_series(1, ${n} + 0 * ${seed}))`

/** Statements that fill the schema; each is one transaction, run in order (parallel by table where safe). */
export function generatorSql(c: Counts): { phase: string; sql: string }[] {
  return [
    {
      phase: 'users',
      sql: `INSERT INTO users (email, display_name, created_at, last_login_at, status)
        SELECT 'user' || g || '.' || substr(md5(random()::text), 1, 8) || '@example.org',
               initcap((${words})[1 + (g % ${WORDS.length})]) || ' ' || initcap(substr(md5(g::text), 1, 6 + g % 5)),
               now() - (random() * interval '900 days'), now() - (random() * interval '30 days'),
               (ARRAY['active','active','active','suspended','pending'])[1 + g % 5]
        FROM generate_series(1, ${c.users}) g;
        INSERT INTO auth_credentials (user_id, password_hash, mfa_secret)
        SELECT id, '$argon2id$v=19$m=65536,t=3,p=4$' || encode(gen_random_bytes_compat(16), 'base64') || '$' || encode(gen_random_bytes_compat(32), 'base64'),
               CASE WHEN id % 3 = 0 THEN encode(gen_random_bytes_compat(20), 'hex') END
        FROM users;
        INSERT INTO preferences (user_id, settings)
        SELECT id, jsonb_build_object('theme', (ARRAY['dark','light','system'])[1 + id % 3], 'language', (ARRAY['en','de','fr','es','ja'])[1 + id % 5],
               'notifications', jsonb_build_object('email', id % 2 = 0, 'push', id % 3 = 0), 'editor', jsonb_build_object('font_size', 12 + id % 6, 'keymap', (ARRAY['default','vim','emacs'])[1 + id % 3]))
        FROM users;`,
    },
    {
      phase: 'courses',
      sql: `INSERT INTO courses (slug, title, description, level, published_at)
        SELECT 'course-' || g, initcap(${sentence('4', 'g')}), ${sentence('40', 'g')}, (ARRAY['beginner','intermediate','advanced'])[1 + g % 3], now() - (random() * interval '700 days')
        FROM generate_series(1, ${c.courses}) g;
        INSERT INTO course_content (course_id, position, title, body)
        SELECT c.id, p, initcap(${sentence('5', 'p')}), ${sentence('(250 + (random() * 300)::int)', 'c.id * p')}
        FROM courses c, generate_series(1, ${c.contentPerCourse}) p;`,
    },
    {
      phase: 'user_progress',
      sql: `INSERT INTO user_progress (user_id, course_id, progress_data, achievements, favorites, last_updated)
        SELECT u.id, 1 + ((u.id * 7 + k * 13) % ${c.courses}),
          jsonb_build_object(
            'percent', (random() * 100)::int,
            'completed_lessons', (SELECT jsonb_agg((random() * 200)::int) FROM generate_series(1, 3 + (random() * 12)::int + 0 * k)),
            'last_lesson', jsonb_build_object('id', (random() * 10000)::int, 'title', ${sentence('4', 'k')}),
            'quiz_scores', (SELECT jsonb_object_agg('q' || q, (random() * 100)::int) FROM generate_series(1, 2 + (random() * 6)::int + 0 * k) q),
            'notes', ${sentence('(8 + random() * 30)::int', 'u.id + k')},
            'time_spent_s', (random() * 360000)::int),
          COALESCE((SELECT array_agg((ARRAY['first-lesson','streak-7','streak-30','quiz-master','night-owl','helper','completionist'])[1 + (random() * 6)::int]) FROM generate_series(1, (random() * 4)::int + 0 * k)), '{}'),
          COALESCE((SELECT array_agg((random() * 10000)::bigint) FROM generate_series(1, (random() * 5)::int + 0 * k)), '{}'),
          now() - (random() * interval '60 days')
        FROM users u, generate_series(1, ${c.progressPerUser}) k;
`,
    },
    {
      phase: 'analytics_events',
      sql: `INSERT INTO analytics_events (user_id, event_type, properties, occurred_at)
        SELECT u.id, (ARRAY['page_view','lesson_start','lesson_complete','quiz_submit','video_play','search','login'])[1 + (random() * 6)::int],
          jsonb_build_object('path', '/courses/' || (random() * 1000)::int || '/lessons/' || (random() * 40)::int, 'ua', (ARRAY['firefox','chrome','safari','edge'])[1 + (random() * 3)::int],
                             'duration_ms', (random() * 60000)::int, 'query', ${sentence('3', 'u.id + k')}),
          now() - (random() * interval '90 days')
        FROM users u, generate_series(1, ${c.eventsPerUser}) k;`,
    },
  ]
}

/** pgcrypto may be absent; random bytes from md5 of random() are enough for fake hashes. */
export const HELPER_SQL = `
CREATE OR REPLACE FUNCTION gen_random_bytes_compat(n int) RETURNS bytea LANGUAGE sql VOLATILE AS
$$ SELECT substring(decode(string_agg(md5(random()::text), ''), 'hex') FROM 1 FOR n) FROM generate_series(1, (n + 15) / 16) $$;
`
