// An SD-JWT VC issuer that is not credshare: the OpenWallet Foundation's @sd-jwt/sd-jwt-vc
// (pinned in package.json), for the interop test tests/test_metadata_issuer_interop.py.
//
//   node tests/sdjwt_vc_issuer.mjs issue REQUEST.json   -> {"credential", "jwks"} on stdout
//   node tests/sdjwt_vc_issuer.mjs status REQUEST.json  -> {"token"} (a statuslist+jwt) on stdout
//
// REQUEST (JSON): {"key_file", "iss", "vct", "holder_jwk", "claims", "disclosable", "status_uri",
// "status_idx"} for issue (a new ES256 key is made and kept in key_file); {"key_file", "uri",
// "size", "revoked"} for status, signed with the key kept in key_file.
import { readFileSync, writeFileSync } from "node:fs";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { ES256, digest, generateSalt } from "@sd-jwt/crypto-nodejs";
import { StatusList, createHeaderAndPayload } from "@sd-jwt/jwt-status-list";

const [mode, requestPath] = process.argv.slice(2);
const request = JSON.parse(readFileSync(requestPath, "utf8"));
const KID = "interop-es256-1";

function b64url(text) {
  return Buffer.from(text, "utf8").toString("base64url");
}

async function issue() {
  const { publicKey, privateKey } = await ES256.generateKeyPair();
  writeFileSync(request.key_file, JSON.stringify(privateKey));
  const sdjwt = new SDJwtVcInstance({
    signer: await ES256.getSigner(privateKey),
    signAlg: ES256.alg,
    hasher: digest,
    hashAlg: "sha-256",
    saltGenerator: generateSalt,
  });
  const payload = {
    iss: request.iss,
    vct: request.vct,
    iat: Math.floor(Date.now() / 1000),
    cnf: { jwk: request.holder_jwk },
    ...request.claims,
  };
  if (request.status_uri) {
    payload.status = { status_list: { idx: request.status_idx, uri: request.status_uri } };
  }
  const credential = await sdjwt.issue(payload, { _sd: request.disclosable }, { header: { kid: KID } });
  const jwk = { kty: publicKey.kty, crv: publicKey.crv, x: publicKey.x, y: publicKey.y, kid: KID, alg: "ES256",
                use: "sig" };
  return { credential, jwks: { keys: [jwk] } };
}

async function status() {
  const privateKey = JSON.parse(readFileSync(request.key_file, "utf8"));
  const bits = new Array(request.size).fill(0);
  for (const idx of request.revoked) bits[idx] = 1;
  const list = new StatusList(bits, 1);
  const { header, payload } = createHeaderAndPayload(
    list, { sub: request.uri, iat: Math.floor(Date.now() / 1000), ttl: 60 },
    { alg: "ES256", typ: "statuslist+jwt", kid: KID });
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = await (await ES256.getSigner(privateKey))(signingInput);
  return { token: `${signingInput}.${signature}` };
}

const result = mode === "issue" ? await issue() : mode === "status" ? await status() : null;
if (result === null) {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(result));
