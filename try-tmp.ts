import { PGlite } from '@electric-sql/pglite';
let t = Date.now();
const a = new PGlite(); await a.waitReady; console.log('first', Date.now() - t); t = Date.now();
const b = await (a as any).clone(); await b.waitReady; console.log('clone', Date.now() - t); t = Date.now();
await b.query('create table x (a int)'); console.log(await a.query("select count(*) from pg_tables where tablename='x'"));
