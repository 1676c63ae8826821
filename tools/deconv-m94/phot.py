import sys, numpy as np
sys.path.insert(0,__import__('os').path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
dec,_=read(sys.argv[1]); mean,_=read(sys.argv[2])
C,H,W=mean.shape
lm=mean.mean(0); ld=dec.mean(0)
def noise(img,ref):
    g=img[1]; r=ref[1]
    med=np.median(r); sig=1.4826*np.median(np.abs(r-med))
    sky=(r<med+2*sig); sky2=sky[:,:-1]&sky[:,1:]
    d=(g[:,:-1]-g[:,1:])[sky2]/np.sqrt(2)
    c=((img[0]-img[1])[:,:-1]-(img[0]-img[1])[:,1:])[sky2]/np.sqrt(2)
    f=lambda v:1.4826*np.median(np.abs(v-np.median(v)))
    return f(d),f(c)
ngm,ncm=noise(mean,mean); ngd,ncd=noise(dec,mean)
print("noise green mean %.2f dec %.2f (x%.2f); R-G chroma mean %.2f dec %.2f (x%.2f)"%(ngm,ngd,ngd/ngm,ncm,ncd,ncd/ncm))
thr=50*ngm
mx=nd.maximum_filter(lm,size=5)
pk=np.argwhere((lm==mx)&(lm>thr))
pk=[(y,x) for y,x in pk if 20<=y<H-20 and 20<=x<W-20]
yy,xx=np.mgrid[-14:15,-14:15]; rr=np.hypot(yy,xx)
recon=None
if len(sys.argv)>3:
    s=float(sys.argv[3])
    recon=np.stack([nd.gaussian_filter(dec[c],s) for c in range(C)]).mean(0)
res=[]
for i,(y,x) in enumerate(pk):
    iso=True
    for j,(y2,x2) in enumerate(pk):
        if j!=i and lm[y2,x2]>0.05*lm[y,x] and np.hypot(y2-y,x2-x)<=20: iso=False;break
    if not iso or x<15 or y<15 or x>=W-15 or y>=H-15: continue
    def ap(img):
        cut=img[y-14:y+15,x-14:x+15]
        a=cut[rr<=8]; b=cut[(rr>=10)&(rr<=14)]
        return a.sum()-a.size*b.mean()
    fm=ap(lm); fd=ap(ld)
    row=[x,y,lm[y,x],fm,fd/fm]
    if recon is not None: row.append(ap(recon)/fm)
    res.append(row)
res=np.array(res)
print("%d isolated peaks; median deconv/mean %.4f (%.3f-%.3f)"%(len(res),np.median(res[:,4]),res[:,4].min(),res[:,4].max()))
if recon is not None: print("reconvolved sigma %s: median %.4f"%(sys.argv[3],np.median(res[:,5])))
o=np.argsort(res[:,3])
for r in res[o]: print(" ".join("%.4g"%v for v in r))
