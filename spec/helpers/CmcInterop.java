// Bouncy Castle side of the /fullcmc interop spec: builds Full PKI Requests and reads Full PKI Responses.
import java.io.*;
import java.math.BigInteger;
import java.nio.file.*;
import java.security.*;
import java.security.cert.X509Certificate;
import java.util.*;
import org.bouncycastle.asn1.*;
import org.bouncycastle.asn1.cmc.*;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.CRLReason;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.*;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.*;
import org.bouncycastle.util.encoders.Hex;

public class CmcInterop {
  static PrivateKey key(String path) throws Exception {
    try (PEMParser p = new PEMParser(new FileReader(path))) {
      Object o = p.readObject();
      JcaPEMKeyConverter c = new JcaPEMKeyConverter().setProvider("BC");
      if (o instanceof org.bouncycastle.asn1.pkcs.PrivateKeyInfo) return c.getPrivateKey((org.bouncycastle.asn1.pkcs.PrivateKeyInfo) o);
      return c.getKeyPair((org.bouncycastle.openssl.PEMKeyPair) o).getPrivate();
    }
  }

  static X509CertificateHolder cert(String path) throws Exception {
    try (PEMParser p = new PEMParser(new FileReader(path))) {
      return (X509CertificateHolder) p.readObject();
    }
  }

  // request <csr.der|-> <signing key.pem> <signer cert.pem|-> <out> [txid=N] [nonce=HEX] [ident=TEXT] [revoke=ISSUER_CERT_PEM:SERIAL_HEX[:REASON]] [unknown] [crmf]
  static void request(String[] a) throws Exception {
    List<TaggedAttribute> controls = new ArrayList<>();
    List<TaggedRequest> reqs = new ArrayList<>();
    int id = 1;
    byte[] csr = a[1].equals("-") ? null : Files.readAllBytes(Paths.get(a[1]));
    for (int i = 5; i < a.length; i++) {
      String arg = a[i];
      if (arg.startsWith("txid=")) controls.add(new TaggedAttribute(new BodyPartID(id++), CMCObjectIdentifiers.id_cmc_transactionId, new DERSet(new ASN1Integer(new BigInteger(arg.substring(5))))));
      else if (arg.startsWith("nonce=")) controls.add(new TaggedAttribute(new BodyPartID(id++), CMCObjectIdentifiers.id_cmc_senderNonce, new DERSet(new DEROctetString(Hex.decode(arg.substring(6))))));
      else if (arg.startsWith("ident=")) controls.add(new TaggedAttribute(new BodyPartID(id++), CMCObjectIdentifiers.id_cmc_identification, new DERSet(new DERUTF8String(arg.substring(6)))));
      else if (arg.startsWith("revoke=")) {
        String[] p = arg.substring(7).split(":");
        X500Name issuer = cert(p[0]).getSubject();
        ASN1Encodable rr;
        if (p.length > 2) {
          // revoke=ISSUER:SERIAL:REASON with any CRLReason value, even one no CRLReason can hold.
          ASN1EncodableVector v = new ASN1EncodableVector();
          v.add(issuer);
          v.add(new ASN1Integer(new BigInteger(p[1], 16)));
          v.add(new ASN1Enumerated(new BigInteger(p[2])));
          v.add(new DERUTF8String("lost device"));
          rr = new DERSequence(v);
        } else {
          rr = new RevokeRequest(issuer, new ASN1Integer(new BigInteger(p[1], 16)), CRLReason.lookup(CRLReason.keyCompromise), null, null, new DERUTF8String("lost device"));
        }
        controls.add(new TaggedAttribute(new BodyPartID(id++), CMCObjectIdentifiers.id_cmc_revokeRequest, new DERSet(rr)));
      } else if (arg.equals("unknown")) controls.add(new TaggedAttribute(new BodyPartID(id++), CMCObjectIdentifiers.id_cmc_getCRL, new DERSet(DERNull.INSTANCE)));
    }
    if (csr != null) {
      CertificationRequest cr = CertificationRequest.getInstance(csr);
      reqs.add(new TaggedRequest(new TaggedCertificationRequest(new BodyPartID(id++), cr)));
    }
    PKIData data = new PKIData(controls.toArray(new TaggedAttribute[0]), reqs.toArray(new TaggedRequest[0]), new TaggedContentInfo[0], new OtherMsg[0]);
    PrivateKey k = key(a[2]);
    String alg = k.getAlgorithm().startsWith("EC") ? "SHA256withECDSA" : "SHA256withRSA";
    ContentSigner signer = new JcaContentSignerBuilder(alg).setProvider("BC").build(k);
    CMSSignedDataGenerator gen = new CMSSignedDataGenerator();
    JcaSignerInfoGeneratorBuilder sib = new JcaSignerInfoGeneratorBuilder(new JcaDigestCalculatorProviderBuilder().setProvider("BC").build());
    if (a[3].equals("-")) {
      // Self-signed with the CSR's key: sid is a subjectKeyIdentifier (RFC 5272 §3.2.1.3.3).
      byte[] spki = CertificationRequest.getInstance(csr).getSubjectPublicKey().getBytes();
      byte[] ski = MessageDigest.getInstance("SHA-1").digest(spki);
      gen.addSignerInfoGenerator(sib.build(signer, ski));
    } else {
      X509CertificateHolder c = cert(a[3]);
      gen.addSignerInfoGenerator(sib.build(signer, c));
      gen.addCertificate(c);
    }
    CMSSignedData sd = gen.generate(new CMSProcessableByteArray(CMCObjectIdentifiers.id_cct_PKIData, data.getEncoded()), true);
    Files.write(Paths.get(a[4]), sd.getEncoded());
  }

  // response <resp.der> <ca cert.pem>: verifies the signature with the CA certificate and prints the PKIResponse.
  static void response(String[] a) throws Exception {
    CMSSignedData sd = new CMSSignedData(Files.readAllBytes(Paths.get(a[1])));
    X509CertificateHolder ca = cert(a[2]);
    System.out.println("eContentType=" + sd.getSignedContentTypeOID());
    for (SignerInformation si : sd.getSignerInfos().getSigners()) {
      System.out.println("signatureVerifies=" + si.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(ca)));
    }
    for (Object o : sd.getCertificates().getMatches(null)) System.out.println("certificate=" + ((X509CertificateHolder) o).getSubject());
    PKIResponse r = PKIResponse.getInstance(ASN1Primitive.fromByteArray((byte[]) sd.getSignedContent().getContent()));
    for (int i = 0; i < r.getControlSequence().size(); i++) {
      TaggedAttribute t = TaggedAttribute.getInstance(r.getControlSequence().getObjectAt(i));
      ASN1Encodable v = t.getAttrValues().getObjectAt(0);
      if (t.getAttrType().equals(CMCObjectIdentifiers.id_cmc_statusInfoV2)) {
        CMCStatusInfoV2 s = CMCStatusInfoV2.getInstance(v);
        StringBuilder b = new StringBuilder("statusInfoV2 status=" + ASN1Integer.getInstance(s.getcMCStatus().toASN1Primitive()).getValue() + " bodyList=");
        for (BodyPartID p : s.getBodyList()) b.append(p.getID()).append(',');
        if (s.getStatusStringUTF8() != null) b.append(" string=").append(s.getStatusStringUTF8().getString());
        if (s.getOtherStatusInfo() != null && s.getOtherStatusInfo().isFailInfo()) b.append(" failInfo=").append(ASN1Integer.getInstance(s.getOtherStatusInfo().toASN1Primitive()).getValue());
        System.out.println(b);
      } else if (t.getAttrType().equals(CMCObjectIdentifiers.id_cmc_transactionId)) {
        System.out.println("transactionId=" + ASN1Integer.getInstance(v).getValue());
      } else if (t.getAttrType().equals(CMCObjectIdentifiers.id_cmc_recipientNonce)) {
        System.out.println("recipientNonce=" + Hex.toHexString(ASN1OctetString.getInstance(v).getOctets()));
      } else if (t.getAttrType().equals(CMCObjectIdentifiers.id_cmc_senderNonce)) {
        System.out.println("senderNonceLength=" + ASN1OctetString.getInstance(v).getOctets().length);
      }
    }
  }

  public static void main(String[] a) throws Exception {
    Security.addProvider(new BouncyCastleProvider());
    if (a[0].equals("request")) request(a);
    else response(a);
  }
}
